"""``datahealth study register | snapshot``, ``datahealth synth study`` and ``datahealth report study``.

Thin shells over ``registry``, ``snapshot``, ``synth`` and ``reports.study_report``. Files a study keeps
beside the database (the checked device validation set) live in ``<data_dir>/studies/<code>/``; the
Parquet snapshot in ``<data_dir>/snapshot/`` unless ``--snapshot`` says otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from datahealth.audit.log import record_cli
from datahealth.clock import jst_date, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError

app = typer.Typer(help="Studies on the exchange data / 研究（介入効果・機器精度）", no_args_is_help=True)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

SnapshotOption = Annotated[
    Path | None, typer.Option("--snapshot", help="Parquet snapshot folder (default <data_dir>/snapshot)")
]


def _fail(error: DatahealthError) -> typer.Exit:
    for problem in error.problems[:50]:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )
    if len(error.problems) > 50:
        errors.print(f"… ほか {len(error.problems) - 50} 件 / {len(error.problems) - 50} more")
    return typer.Exit(code=1)


def snapshot_dir(settings: Settings, given: Path | None) -> Path:
    return given if given is not None else settings.data_dir / "snapshot"


def study_dir(settings: Settings, code: str) -> Path:
    return settings.data_dir / "studies" / code


def keep_validation(settings: Settings, code: str, content: bytes, name: str) -> Path:
    """Check a validation CSV (DH-T11x) and keep it with the study."""
    from datahealth.analytics.study.accuracy import read_validation_csv

    read_validation_csv(content, name)
    target = study_dir(settings, code) / "validation.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console)


@app.command("register")
def register_command(
    definition: Annotated[Path, typer.Argument(help="Study definition YAML / 研究定義")],
    allocation: Annotated[
        Path | None, typer.Option("--allocation", help="CSV consortium_id,participant_id,arm / 割付")
    ] = None,
    validation: Annotated[Path | None, typer.Option("--validation", help="Device validation CSV / 精度検証")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a registered study / 置き換え")] = False,
) -> None:
    """Register a study and its allocation (generated unless --allocation) / 研究の登録."""
    from datahealth.analytics.study.model import load_definition
    from datahealth.analytics.study.registry import register_study

    settings = Settings()
    engine = make_engine(settings)
    try:
        parsed = load_definition(definition.read_text(encoding="utf-8"), definition.name)
        with transaction(make_session_factory(engine)) as db:
            registered = register_study(
                db,
                parsed,
                now=system_clock(),
                by="cli",
                allocation_csv=None if allocation is None else allocation.read_bytes(),
                allocation_name=allocation.name if allocation else "",
                replace=replace,
            )
            record_cli(db, "study.register", now=system_clock(), object_type="study", object_id=parsed.code)
        if validation is not None:
            keep_validation(settings, parsed.code, validation.read_bytes(), validation.name)
    except DatahealthError as error:
        raise _fail(error) from None
    finally:
        engine.dispose()
    counts = registered.allocation.group_by("arm").len().sort("arm").iter_rows()
    console.print(
        f"研究 {parsed.code} を登録しました / study registered: "
        + ", ".join(f"{arm} {n}" for arm, n in counts)
        + f" ({registered.allocation_source})",
        highlight=False,
    )


@app.command("snapshot")
def snapshot_command(
    snapshot: SnapshotOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start the snapshot over / 作り直す")] = False,
) -> None:
    """Export new batches of the hub to the Parquet snapshot / 分析用スナップショットの更新."""
    from datahealth.analytics.study.snapshot import update_snapshot

    settings = Settings()
    engine = make_engine(settings)
    folder = snapshot_dir(settings, snapshot)
    try:
        with transaction(make_session_factory(engine)) as db, _progress() as bar:
            task = bar.add_task("records / 記録", total=None)
            run = update_snapshot(
                db, folder, now=system_clock(), rebuild=rebuild, progress=lambda n: bar.advance(task, n)
            )
            record_cli(
                db, "study.snapshot.export", now=system_clock(), detail={"batches": run.new_batches, "rebuild": rebuild}
            )
    except DatahealthError as error:
        raise _fail(error) from None
    finally:
        engine.dispose()
    rows = ", ".join(f"{name} {count:,}" for name, count in run.rows.items())
    console.print(f"新規バッチ {run.new_batches} 件 / new batches; {rows}: {folder}", highlight=False)


def synth_study(
    outdir: Annotated[Path, typer.Argument(help="Output folder / 出力先")],
    participants: Annotated[int, typer.Option(min=4, help="Participants / 参加者数")] = 200,
    seed: int = 1,
    start: Annotated[str | None, typer.Option(help="Study start YYYY-MM-DD (default: ~7 months ago)")] = None,
    code: Annotated[str, typer.Option(help="Study code / 研究コード")] = "SYNTH-STUDY",
    ingest_: Annotated[
        bool, typer.Option("--ingest/--no-ingest", help="Send through the exchange service and register")
    ] = True,
) -> None:
    """Synthetic study with a planted effect and device errors, ingested into the hub / 合成研究データ."""
    from datahealth.analytics.study import synth
    from datahealth.exchange.service import Sender, Upload, ingest

    try:
        first = date.fromisoformat(start) if start else jst_date(system_clock()) - timedelta(days=210)
    except ValueError:
        errors.print(f"日付の形式が不正です / not a date: {start}")
        raise typer.Exit(code=2) from None
    definition = synth.default_definition(first, ("SYN01",), code)
    study = synth.generate_study(participants=participants, start=first, seed=seed, definition=definition)
    written = synth.write_study(study, outdir)
    rows = sum(frame.height for frame in study.data.records.values())
    console.print(f"{len(written)} files, {rows:,} records / 記録 {rows:,} 件: {outdir}", highlight=False)
    if not ingest_:
        return
    from datahealth.analytics.study.registry import register_study

    now = system_clock()
    last = first + timedelta(days=synth.horizon(definition))
    if datetime.combine(last, time(23, 59), tzinfo=UTC) > now:
        errors.print("開始日が新しすぎます（追跡期間が未来）/ --start too recent: follow-up would be in the future")
        raise typer.Exit(code=2)
    settings = Settings()
    engine = make_engine(settings)
    try:
        with transaction(make_session_factory(engine)) as db, _progress() as bar:
            task = bar.add_task("ingest / 取り込み", total=None)
            uploads = [Upload(name=name, data=content) for name, content in study.files if "/" not in name]
            result = ingest(
                db,
                Sender(None, "cli:synth-study"),
                uploads,
                channel="cli",
                now=now,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            registered = register_study(db, definition, now=now, by="synth", replace=True)
        keep_validation(settings, code, study.validation, "validation.csv")
    except DatahealthError as error:
        raise _fail(error) from None
    finally:
        engine.dispose()
    console.print(
        f"batch {result.batch_id}: {result.status}, stored {result.total('stored'):,}, "
        f"rejected {result.total('rejected'):,}; study {code}: {registered.allocation.height} participants",
        highlight=False,
    )
    if result.status != "accepted":
        raise typer.Exit(code=1)


def report_study(
    study: Annotated[str | None, typer.Option("--study", help="Study code (default: the latest)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder / 出力先")] = Path("."),
    validation: Annotated[
        Path | None, typer.Option("--validation", help="Device validation CSV (default: the study's)")
    ] = None,
    snapshot: SnapshotOption = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild the snapshot / 作り直す")] = False,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the PDF")] = True,
) -> None:
    """Study report (HTML and PDF) from the hub's data / 研究レポート."""
    from datahealth.analytics.study import service
    from datahealth.analytics.study.registry import load_study
    from datahealth.reports import study_report

    settings = Settings()
    engine = make_engine(settings)
    now = system_clock()
    try:
        with transaction(make_session_factory(engine)) as db:
            code = load_study(db, study).definition.code
            source = validation or study_dir(settings, code) / "validation.csv"
            content = source.read_bytes() if source.exists() else None
            with _progress() as bar:
                bar.add_task("snapshot + analysis / 集計", total=None)
                results = service.run(
                    db,
                    snapshot_dir(settings, snapshot),
                    now=now,
                    code=code,
                    validation_csv=content,
                    validation_name=source.name,
                    rebuild=rebuild,
                )
            record_cli(db, "report.study.export", now=now, object_type="study", object_id=code, detail={"pdf": pdf})
        out.mkdir(parents=True, exist_ok=True)
        html_path = out / f"study-{code}.html"
        html_path.write_text(study_report.render_html(results, generated_at=now), encoding="utf-8")
        written = [html_path]
        if pdf:
            pdf_path = out / f"study-{code}.pdf"
            pdf_path.write_bytes(study_report.render_pdf(results, generated_at=now))
            written.append(pdf_path)
    except DatahealthError as error:
        raise _fail(error) from None
    finally:
        engine.dispose()
    for path in written:
        console.print(f"書き出し / written: {path}", highlight=False)


def register_report(report_app: typer.Typer) -> None:
    """Add ``study`` to ``datahealth report``."""
    report_app.command("study")(report_study)
