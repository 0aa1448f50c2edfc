"""``datahealth exchange ingest | consortium add | synth``: send files, register a consortium, make test data.

``ingest`` exits 0 when every record was accepted, 1 when any record was rejected (or the batch was
refused), 2 on usage errors (no such file, unsupported format, unknown consortium).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from datahealth.audit.log import record_cli
from datahealth.clock import jst_date, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError, UnsupportedMediaType
from datahealth.exchange import synth
from datahealth.exchange.pipeline import Issue
from datahealth.exchange.service import COUNT_KEYS, IngestResult, Sender, Upload, ingest, issues_csv

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

SUFFIXES = (".csv", ".json", ".ndjson")
COUNT_LABELS = {
    "received": "受信 received",
    "stored": "新規 stored",
    "replaced": "更新 replaced",
    "unchanged": "変更なし unchanged",
    "stale": "古い stale",
    "conflict": "競合 conflict",
    "rejected": "不受理 rejected",
    "flagged": "要確認 flagged",
}
STATUS_LABELS = {"accepted": "受付完了 accepted", "partial": "一部不受理 partial", "rejected": "不受理 rejected"}


def _usage(message: str) -> typer.Exit:
    errors.print(message, highlight=False)
    return typer.Exit(code=2)


def _fail(error: DatahealthError, code: int = 1) -> typer.Exit:
    for problem in error.problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )
    return typer.Exit(code=code)


def uploads_for(paths: list[Path]) -> list[Upload]:
    """Files as given; a directory stands for its .csv/.json/.ndjson files (not its sub-folders), by name."""
    uploads: list[Upload] = []
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
            uploads += [Upload(name=file.name, path=file) for file in files]
        elif path.is_file():
            uploads.append(Upload(name=path.name, path=path))
        else:
            raise _usage(f"見つかりません / not found: {path}")
    if not uploads:
        raise _usage("送信するファイルがありません / no .csv, .json or .ndjson files given")
    return uploads


def _audit_failure(engine: Engine, action: str, error: DatahealthError) -> None:
    """A refused command is audited too, in its own transaction (the command's own was rolled back)."""
    with transaction(make_session_factory(engine)) as db:
        record_cli(db, action, now=system_clock(), outcome="failure", detail={"error": error.code})


def print_issue(issue: Issue) -> None:
    colour = {"error": "red", "flag": "yellow"}.get(issue.severity, "cyan")
    console.print(
        f"[{colour}]{issue.code}[/{colour}] {issue.message('ja')}\n        {issue.message('en')}", highlight=False
    )


def print_result(result: IngestResult, show: int) -> None:
    table = Table(title=f"batch / バッチ {result.batch_id}")
    names = list(result.counts) or [""]
    table.add_column("種別 record type", no_wrap=True, min_width=max(len(name) for name in names))
    for key in COUNT_KEYS:
        table.add_column(COUNT_LABELS[key], justify="right")
    for name, counts in result.counts.items():
        table.add_row(name, *(f"{counts.get(key, 0):,}" for key in COUNT_KEYS))
    console.print(table)
    notices = [issue for issue in result.issues if issue.severity == "info"]
    problems = [issue for issue in result.issues if issue.severity != "info"]
    for issue in notices + problems[:show]:
        print_issue(issue)
    if len(problems) > show:
        console.print(
            f"… ほか {len(problems) - show:,} 件 / {len(problems) - show:,} more (--report で全件 / all with --report)"
        )
    console.print(f"結果 result: [bold]{STATUS_LABELS.get(result.status, result.status)}[/bold]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``datahealth exchange``."""
    consortium_app = typer.Typer(help="Consortia / コンソーシアム", no_args_is_help=True)
    app.add_typer(consortium_app, name="consortium")

    @app.command("ingest")
    def ingest_command(
        paths: Annotated[list[Path], typer.Argument(help="CSV/JSON/NDJSON files or folders / ファイル・フォルダ")],
        consortium: Annotated[
            str | None, typer.Option("--consortium", help="Send as this consortium / 送信元コンソーシアムID")
        ] = None,
        strict: Annotated[
            bool, typer.Option("--strict", help="Refuse the whole batch on any error / 誤りがあれば全体を不受理")
        ] = False,
        idempotency_key: Annotated[
            str | None, typer.Option("--idempotency-key", help="Same key again stores nothing / 再送防止キー")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="Write every issue to this CSV / 全件のエラー一覧 CSV")
        ] = None,
        show: Annotated[int, typer.Option("--show", help="Issues printed / 表示する件数")] = 20,
    ) -> None:
        """Validate and store exchange files (健康情報等交換規約) / 交換規約ファイルの検証と登録."""
        from datahealth.exchange.consortia import find_consortium

        uploads = uploads_for(paths)
        engine = make_engine(Settings())
        try:
            with transaction(make_session_factory(engine)) as db:
                if consortium is not None and find_consortium(db, consortium) is None:
                    raise _usage(
                        f"コンソーシアム {consortium} は登録されていません / consortium {consortium} is not registered"
                    )
                sender = Sender(consortium, f"cli:{consortium}" if consortium else "cli")
                with _progress() as bar:
                    task = bar.add_task("records / 記録", total=None)
                    result = ingest(
                        db,
                        sender,
                        uploads,
                        channel="cli",
                        strict=strict,
                        idempotency_key=idempotency_key,
                        now=system_clock(),
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
                record_cli(
                    db,
                    "exchange.batch.ingest",
                    now=system_clock(),
                    object_type="batch",
                    object_id=result.batch_id,
                    detail=result.audit_detail("cli", len(uploads)),
                )
                if report is not None:
                    report.write_bytes(issues_csv(db, result.batch_id))
                    record_cli(
                        db,
                        "exchange.batch.issues_export",
                        now=system_clock(),
                        object_type="batch",
                        object_id=result.batch_id,
                    )
        except UnsupportedMediaType as error:
            _audit_failure(engine, "exchange.batch.ingest", error)
            raise _fail(error, code=2) from None
        except DatahealthError as error:
            _audit_failure(engine, "exchange.batch.ingest", error)
            raise _fail(error) from None
        finally:
            engine.dispose()
        print_result(result, show)
        if result.duplicate_of:
            console.print(f"再送のため何も保存していません / duplicate of batch {result.duplicate_of}; nothing stored")
        if report is not None:
            console.print(f"エラー一覧 / report: {report}", highlight=False)
        if result.status != "accepted":
            raise typer.Exit(code=1)

    @consortium_app.command("add")
    def consortium_add(
        consortium_id: Annotated[str, typer.Argument(help="Consortium ID (A–Z, 0–9, ≤ 10) / コンソーシアムID")],
        name: Annotated[str, typer.Argument(help="Name / コンソーシアム名")],
        login: Annotated[str, typer.Option(help="Operator login (default c + ID) / 担当者ログインID")] = "",
    ) -> None:
        """Register a consortium and its operator account (one-time activation code) / コンソーシアム登録."""
        from datahealth.exchange.consortia import create_consortium, create_operator

        engine = make_engine(Settings())
        try:
            with transaction(make_session_factory(engine)) as db:
                org = create_consortium(db, consortium_id, name)
                account = create_operator(db, org.code, login)
                record_cli(
                    db, "exchange.consortium.create", now=system_clock(), object_type="consortium", object_id=org.code
                )
                record_cli(
                    db,
                    "account.create",
                    now=system_clock(),
                    object_type="user",
                    object_id=account.login_id,
                    detail={"role": "consortium"},
                )
        except DatahealthError as error:
            raise _fail(error) from None
        finally:
            engine.dispose()
        console.print(f"コンソーシアム {org.code}（{org.name}）を登録しました / consortium registered", highlight=False)
        console.print(f"担当者ログインID / operator login: [bold]{account.login_id}[/bold]", highlight=False)
        console.print(
            f"初回登録コード（一度だけ表示）/ one-time activation code (shown once): [bold]{account.activation_code}"
            "[/bold]",
            highlight=False,
        )
        console.print("/activate でパスワードを設定してください / set the password at /activate")

    @app.command("synth")
    def synth_command(
        outdir: Annotated[Path, typer.Argument(help="Output folder / 出力先")],
        participants: Annotated[int, typer.Option(min=1, help="Participants per consortium / 参加者数")] = 20,
        days: Annotated[int, typer.Option(min=1, help="Days of records / 日数")] = 60,
        consortia: Annotated[int, typer.Option(min=1, max=99, help="Consortia SYN01… / コンソーシアム数")] = 1,
        errors_: Annotated[
            bool, typer.Option("--errors", help="Plant known errors and flags / 既知の誤りを混入")
        ] = False,
        fmt: Annotated[str, typer.Option("--format", help="csv, json or both")] = "csv",
        start: Annotated[str | None, typer.Option(help="First day YYYY-MM-DD (default: days before today)")] = None,
        seed: int = 1,
    ) -> None:
        """Write synthetic registries and records (CSV and/or JSON) / 合成データの生成."""
        if fmt not in ("csv", "json", "both"):
            raise _usage("--format は csv, json, both のいずれか / --format must be csv, json or both")
        try:
            first = date.fromisoformat(start) if start else jst_date(system_clock()) - timedelta(days=days)
        except ValueError:
            raise _usage(f"日付の形式が不正です / not a date: {start}") from None
        data = synth.generate(
            participants=participants,
            days=days,
            consortia=synth.consortium_ids(consortia),
            start=first,
            seed=seed,
            errors=errors_,
        )
        written = synth.write_files(data, outdir, fmt=fmt)
        rows = sum(frame.height for frame in data.records.values())
        console.print(
            f"{len(written)} files, {rows:,} records / {len(written)} ファイル、記録 {rows:,} 件: {outdir}",
            highlight=False,
        )
        if data.planted:
            console.print(
                f"planted / 混入: {len(data.errors)} errors, {len(data.flags)} flags ({outdir / synth.TRUTH_FILE})",
                highlight=False,
            )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
