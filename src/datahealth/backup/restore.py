"""``datahealth restore``: verify a generation, put it in place of the configured database, check again.

SQLite: the dump is decompressed next to the database file and verified there (integrity, revision,
hashes); then, once nothing else has the database open, the old file keeps a second name
``<file>.before-restore-<UTC time>`` and the new one replaces it with one atomic rename.

PostgreSQL: the dump is restored (owners and grants included, in one transaction) into a new database
``<name>_restore_<time>`` on the same server and verified there; then, once no other session is
connected, the live database is renamed ``<name>_before_restore_<time>`` and the new one takes its name.
The role needs CREATEDB and must own the live database (the usual set-up for the application's role).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datahealth import migrate
from datahealth.backup import postgres_backup, sqlite_backup
from datahealth.backup.common import BackupError, Note, Notify, quiet
from datahealth.backup.contenthash import has_rows
from datahealth.backup.manifest import Generation, read_manifest
from datahealth.backup.snapshot import database_kind
from datahealth.backup.verify import VerifyReport, check_sqlite_file, evaluate, start_report
from datahealth.config import Settings
from datahealth.db import make_engine


@dataclass(frozen=True)
class RestoreResult:
    generation: str
    before: VerifyReport
    """The verification of the restored copy before it went live."""
    after: VerifyReport | None
    """The check of the live database after the swap (``None`` when the copy failed verification)."""
    previous: str | None
    """Where the old database was kept: a file path (SQLite) or a database name (PostgreSQL)."""
    needs_upgrade: bool
    """The restored schema revision is not this software's head (``datahealth db upgrade`` if older)."""
    revision: str | None = None
    head_revision: str | None = None

    @property
    def ok(self) -> bool:
        return self.before.ok and self.after is not None and self.after.ok


def target_rows(settings: Settings) -> int:
    """How many rows the configured database holds (0 when it is empty or does not exist yet)."""
    if database_kind(settings) == "sqlite":
        return sqlite_backup.row_count(sqlite_backup.database_path(settings.resolved_database_url()))
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return has_rows(connection)
    finally:
        engine.dispose()


def restore_generation(
    settings: Settings, generation: Generation, yes: bool = False, notify: Notify = quiet, now: datetime | None = None
) -> RestoreResult:
    """Restore ``generation`` into the configured database (``DH-B106`` if it holds data and not ``yes``)."""
    kind = (generation.manifest or read_manifest(generation.path)).database.kind
    configured = database_kind(settings)
    if kind != configured:
        raise BackupError.of(
            "DH-B110", kind=_label(kind), configured=f"{_label(configured)}: {_location(settings, configured)}"
        )
    rows = target_rows(settings)
    if rows and not yes:
        raise BackupError.of("DH-B106", rows=rows)
    report, dump = start_report(generation, notify)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if kind == "sqlite":
        before, after, previous = _restore_sqlite(settings, generation, report, dump, stamp, notify)
    else:
        before, after, previous = _restore_postgres(settings, report, dump, notify)
    head = migrate.head_revision()
    revision = report.manifest.alembic_revision
    needs_upgrade = after is not None and revision != head
    return RestoreResult(generation.id, before, after, previous, needs_upgrade, revision, head)


def _label(kind: str) -> str:
    return "SQLite" if kind == "sqlite" else "PostgreSQL"


def _location(settings: Settings, kind: str) -> str:
    if kind == "sqlite":
        return str(sqlite_backup.database_path(settings.resolved_database_url()))
    engine = make_engine(settings)
    location = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    return location


def _restore_sqlite(
    settings: Settings, generation: Generation, report: VerifyReport, dump: Path, stamp: str, notify: Notify
) -> tuple[VerifyReport, VerifyReport | None, str | None]:
    target = sqlite_backup.database_path(settings.resolved_database_url())
    target.parent.mkdir(parents=True, exist_ok=True)
    new = target.with_name(f"{target.name}.restore-{stamp}.tmp")
    notify(Note(f"{new.name} へ展開して検証しています", f"unpacking into {new.name} and verifying it"))
    sqlite_backup.decompress(dump, new, generation.id)
    try:
        before = check_sqlite_file(report, new)
        if not before.ok:
            new.unlink()
            return before, None, None
        previous: Path | None = None
        if target.exists():
            notify(Note("使用中でないことを確認しています", "making sure nothing has the database open"))
            sqlite_backup.close_for_swap(target)
            previous = target.with_name(f"{target.name}.before-restore-{stamp}")
        notify(Note("データベースを置き換えています", "replacing the database"))
        sqlite_backup.swap_in(new, target, previous)
    except BaseException:
        new.unlink(missing_ok=True)
        raise
    notify(Note("復元後のデータベースを照合しています", "checking the restored database"))
    after = check_sqlite_file(VerifyReport(generation.id, report.manifest), target)
    return before, after, str(previous) if previous else None


def _restore_postgres(
    settings: Settings, report: VerifyReport, dump: Path, notify: Notify
) -> tuple[VerifyReport, VerifyReport | None, str | None]:
    engine = make_engine(settings)
    try:
        server = postgres_backup.describe(engine)
    finally:
        engine.dispose()
    live = server.database
    new = postgres_backup.scratch_name("restore", live)
    notify(Note(f"新しいデータベース {new} へ復元しています", f"restoring into the new database {new}"))
    postgres_backup.create_database(server, new, owner=server.owner)
    try:
        postgres_backup.restore_into(server, new, dump, settings.pg_bindir, scratch=False)
        notify(Note("内容をマニフェストと照合しています", "comparing the content with the manifest"))
        digests, revision = postgres_backup.digests_of(server.for_database(new))
        before = evaluate(report, digests, revision)
        if not before.ok:
            postgres_backup.drop_database(server, new)
            return before, None, None
        postgres_backup.ensure_unused(server, live)
        aside = postgres_backup.scratch_name("before_restore", live)
        notify(Note(f"{live} を {aside} に改名し、復元したデータベースと入れ替えます", f"swapping {live} → {aside}"))
        postgres_backup.swap_databases(server, live, new, aside)
    except BaseException:
        postgres_backup.drop_database(server, new)
        raise
    notify(Note("復元後のデータベースを照合しています", "checking the restored database"))
    digests, revision = postgres_backup.digests_of(server.url)
    after = evaluate(VerifyReport(report.generation, report.manifest, checks=[]), digests, revision)
    return before, after, aside
