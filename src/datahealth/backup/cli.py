"""``datahealth backup [list|verify|copy]`` and ``datahealth restore``: a thin shell over the backup services.

Exit codes: 0 success, 1 a catalogued failure (checksum, mismatch, refused, tool error …), 2 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from datahealth.audit.log import Outcome, record_cli
from datahealth.backup.common import BackupError, Note, is_read_only
from datahealth.backup.manifest import Generation, find_generation, list_generations
from datahealth.backup.restore import restore_generation
from datahealth.backup.snapshot import copy_generation, create_backup, default_dir, dir_size
from datahealth.backup.verify import VerifyReport, verify_generation
from datahealth.clock import format_jst, system_clock
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.errors import DatahealthError, Problem

console = Console()
errors = Console(stderr=True)

app = typer.Typer(
    help="Backups: consistent, compressed, checksummed generations / バックアップ（世代管理・オフライン複製・検証）",
    invoke_without_command=True,
)

DirOption = Annotated[
    Path | None, typer.Option("--dir", help="Backup directory (default DATAHEALTH_BACKUP_DIR or <data_dir>/backups)")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="backup")
    root.command("restore")(restore)


def _audit(settings: Settings, action: str, outcome: Outcome, detail: dict[str, object]) -> None:
    """Record a backup action in the database's audit log (best effort: a missing database is the error
    the command reports itself)."""
    engine = make_engine(settings)
    try:
        with transaction(make_session_factory(engine)) as db:
            record_cli(db, action, now=system_clock(), outcome=outcome, object_type="backup", detail=detail)
    except SQLAlchemyError:
        errors.print("監査ログに記録できませんでした / could not write the audit log", highlight=False)
    finally:
        engine.dispose()


def _note(note: Note) -> None:
    console.print(f"  • {note.ja} [dim]/ {note.en}[/dim]", highlight=False)


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        errors.print(
            f"[red]{problem.code}[/red] {problem.message('ja')}\n        {problem.message('en')}", highlight=False
        )


def _fail(error: DatahealthError) -> None:
    _print_problems(error.problems)
    raise typer.Exit(code=1)


def _directory(settings: Settings, directory: Path | None) -> Path:
    return directory if directory is not None else default_dir(settings)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


# --- backup (create) -------------------------------------------------------------------------------


@app.callback()
def backup(
    ctx: typer.Context,
    directory: DirOption = None,
    keep: Annotated[
        int | None, typer.Option("--keep", min=1, help="Generations to keep (default DATAHEALTH_BACKUP_KEEP, 7)")
    ] = None,
    copy_to: Annotated[
        Path | None, typer.Option("--copy-to", help="Also copy the new generation here (the offline medium)")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="A word added to the generation's name")] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Then restore it into a scratch database and compare")
    ] = False,
) -> None:
    """Write a backup generation (no sub-command), or list / verify / copy existing ones."""
    if ctx.invoked_subcommand is not None:
        return
    _create(directory, keep, copy_to, label, verify)


@app.command("create")
def create(
    directory: DirOption = None,
    keep: Annotated[int | None, typer.Option("--keep", min=1, help="Generations to keep")] = None,
    copy_to: Annotated[Path | None, typer.Option("--copy-to", help="Also copy the new generation here")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A word added to the generation's name")] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Then restore it into a scratch database and compare")
    ] = False,
) -> None:
    """Write a backup generation (the same as `datahealth backup` without a sub-command)."""
    _create(directory, keep, copy_to, label, verify)


def _create(directory: Path | None, keep: int | None, copy_to: Path | None, label: str | None, verify: bool) -> None:
    settings = Settings()
    target = _directory(settings, directory)
    generations = keep if keep is not None else settings.backup_keep
    console.print(f"[bold]バックアップ / backup[/bold] → {target}（{generations} 世代 / generations）", highlight=False)
    try:
        with console.status("バックアップ中 / backing up…"):
            result = create_backup(
                settings, target, generations, copy_to=copy_to, label=label, notify=_note, verify=verify
            )
    except DatahealthError as error:
        _audit(settings, "backup.create", "failure", {"error": error.code})
        _fail(error)
        return
    manifest = result.manifest
    _audit(
        settings,
        "backup.create",
        "success" if result.report is None or result.report.ok else "failure",
        {"generation": manifest.id, "rows": manifest.total_rows, "copied": result.copy is not None},
    )
    console.print(
        f"[green]✓[/green] {manifest.id}: {len(manifest.tables)} テーブル / tables, {manifest.total_rows} 行 / rows, "
        f"{_size(manifest.dump.bytes)}, SHA-256 {manifest.dump.sha256[:16]}…",
        highlight=False,
    )
    if result.report is not None:
        _print_report(result.report)
        if not result.report.ok:
            errors.print(
                "[red]検証に失敗したため、古い世代の削除と複製は行いませんでした[/red] / "
                "verification failed: no generation was removed and nothing was copied",
                highlight=False,
            )
            raise typer.Exit(code=1)
    for deleted in result.deleted:
        console.print(f"  削除 / removed: {deleted}", highlight=False)
    if result.copy is not None:
        console.print(f"[green]✓[/green] 複製 / copied: {result.copy.path}", highlight=False)
        for deleted in result.copy.deleted:
            console.print(f"  削除 / removed: {result.copy.path.parent / deleted}", highlight=False)


# --- list ------------------------------------------------------------------------------------------


@app.command("list")
def list_command(directory: DirOption = None) -> None:
    """List the generations, oldest first, with their size, rows and state."""
    settings = Settings()
    target = _directory(settings, directory)
    generations = list_generations(target)
    if not generations:
        console.print(f"バックアップはありません / no backups in {target}", highlight=False)
        return
    table = Table(title=f"バックアップ / backups: {target}")
    table.add_column("ID", no_wrap=True, min_width=max(len(generation.id) for generation in generations))
    for heading in ("作成 / created (JST)", "DB", "rev", "サイズ / size", "行数 / rows", "状態 / state"):
        table.add_column(heading)
    for generation in generations:
        manifest = generation.manifest
        state = "読み取り専用 / read-only" if is_read_only(generation.path) else "書き込み可 / writable"
        if manifest is None:
            table.add_row(generation.id, "", "", "", _size(dir_size(generation.path)), "", f"[red]{generation.problem}")
            continue
        table.add_row(
            generation.id,
            format_jst(manifest.created_at, with_seconds=True),
            manifest.database.kind,
            manifest.alembic_revision or "-",
            _size(manifest.dump.bytes),
            str(manifest.total_rows),
            state,
        )
    console.print(table)


# --- verify ----------------------------------------------------------------------------------------


@app.command("verify")
def verify_command(
    generation: Annotated[str | None, typer.Argument(help="Generation id or path (default: the newest)")] = None,
    directory: DirOption = None,
    all_generations: Annotated[bool, typer.Option("--all", help="Verify every generation")] = False,
) -> None:
    """Check the checksum, restore into a scratch database and compare rows and hashes with the manifest."""
    settings = Settings()
    target = _directory(settings, directory)
    try:
        chosen = list_generations(target) if all_generations else [find_generation(target, generation)]
    except DatahealthError as error:
        _fail(error)
        return
    if not chosen:
        _fail(BackupError.of("DH-B111", path=str(target)))
    results = [_verify_one(settings, item) for item in chosen]
    if not all(results):
        raise typer.Exit(code=1)


def _verify_one(settings: Settings, generation: Generation) -> bool:
    console.print(f"[bold]検証 / verify[/bold] {generation.id}", highlight=False)
    try:
        with console.status("検証中 / verifying…"):
            report = verify_generation(settings, generation, notify=_note)
    except DatahealthError as error:
        _print_problems(error.problems)
        return False
    _print_report(report)
    return report.ok


def _print_report(report: VerifyReport) -> None:
    for check in report.checks:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        console.print(f"  {mark} {check.ja} / {check.en}: {check.detail}", highlight=False)
    table = Table(show_edge=False)
    table.add_column("テーブル / table", no_wrap=True)
    for heading in ("行数 マニフェスト / manifest", "行数 復元 / restored", "結果 / result"):
        table.add_column(heading)
    for item in report.tables:
        expected = "-" if item.expected is None else str(item.expected.rows)
        actual = "-" if item.actual is None else str(item.actual.rows)
        status = "[green]ok[/green]" if item.ok else f"[red]{item.status}[/red]"
        table.add_row(item.table, expected, actual, status)
    console.print(table)
    if report.ok:
        console.print(f"[green]✓ {report.generation}: 一致しました / matches its manifest[/green]", highlight=False)
    else:
        _print_problems(report.problems())


# --- copy ------------------------------------------------------------------------------------------


@app.command("copy")
def copy_command(
    to: Annotated[Path, typer.Option("--to", help="Destination, e.g. the mounted offline medium")],
    generation: Annotated[str | None, typer.Argument(help="Generation id (default: the newest)")] = None,
    directory: DirOption = None,
    keep: Annotated[int | None, typer.Option("--keep", min=1, help="Generations to keep at the destination")] = None,
) -> None:
    """Copy an existing generation to a second location and check the copy's checksums."""
    settings = Settings()
    try:
        chosen = find_generation(_directory(settings, directory), generation)
        result = copy_generation(chosen, to, keep if keep is not None else settings.backup_keep, notify=_note)
    except DatahealthError as error:
        _fail(error)
        return
    note = "（既に同一のものがあります / already present）" if result.already_present else ""
    console.print(f"[green]✓[/green] {result.path}{note}", highlight=False)


# --- restore ---------------------------------------------------------------------------------------


def restore(
    generation: Annotated[str, typer.Argument(help="Generation id, 'latest', or a path to a generation directory")],
    directory: DirOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Overwrite a database that holds data")] = False,
) -> None:
    """Verify a backup generation and restore it into the configured database (stop the server first)."""
    settings = Settings()
    target = _directory(settings, directory)
    try:
        chosen = find_generation(target, generation)
        console.print(f"[bold]復元 / restore[/bold] {chosen.id}", highlight=False)
        with console.status("復元中 / restoring…"):
            result = restore_generation(settings, chosen, yes=yes, notify=_note)
    except DatahealthError as error:
        _audit(settings, "backup.restore", "failure", {"generation": generation[:60], "error": error.code})
        _fail(error)
        return
    # Recorded in the restored database, after its contents were compared with the backup.
    _audit(settings, "backup.restore", "success" if result.ok else "failure", {"generation": chosen.id})
    _print_report(result.before)
    if result.after is None:
        errors.print(
            "[red]復元を中止しました（データベースは変更していません）[/red] / restore stopped; database unchanged"
        )
        raise typer.Exit(code=1)
    console.print("復元後の照合 / after the restore:", highlight=False)
    _print_report(result.after)
    if result.previous:
        console.print(f"以前のデータベース / the previous database was kept as: {result.previous}", highlight=False)
    if result.needs_upgrade:
        console.print(
            f"[yellow]スキーマのリビジョンがこのソフトウェアと異なります（バックアップ {result.revision}、"
            f"ソフトウェア {result.head_revision}）。古い場合は `datahealth db upgrade` を実行してください / "
            f"the schema revision differs from this software's (backup {result.revision}, software "
            f"{result.head_revision}): if it is older, run `datahealth db upgrade`[/yellow]",
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(code=1)
