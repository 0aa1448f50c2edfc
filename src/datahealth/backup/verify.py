"""``datahealth backup verify``: checksum, restore into a scratch database, compare with the manifest."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from datahealth.backup import postgres_backup, sqlite_backup
from datahealth.backup.common import BackupError, Note, Notify, quiet
from datahealth.backup.contenthash import TableDigest, compare
from datahealth.backup.manifest import Generation, Manifest, check_dump, read_manifest
from datahealth.config import Settings
from datahealth.db import make_engine
from datahealth.errors import Problem


@dataclass(frozen=True)
class Check:
    """One yes/no check of a verification (checksum, integrity, schema revision …)."""

    ja: str
    en: str
    ok: bool
    detail: str = ""
    problem: Problem | None = None


@dataclass(frozen=True)
class TableCheck:
    table: str
    expected: TableDigest | None
    actual: TableDigest | None

    @property
    def ok(self) -> bool:
        return self.expected is not None and self.expected == self.actual

    @property
    def status(self) -> str:
        if self.expected is None:
            return "extra / 余分"
        if self.actual is None:
            return "missing / 欠落"
        if self.expected.rows != self.actual.rows:
            return "rows differ / 行数不一致"
        if self.expected.sha256 != self.actual.sha256:
            return "content differs / 内容不一致"
        return "ok"

    def problem(self) -> Problem:
        return Problem(
            "DH-B108",
            {
                "table": self.table,
                "expected": "-" if self.expected is None else self.expected.rows,
                "actual": "-" if self.actual is None else self.actual.rows,
                "detail": self.status,
            },
        )


@dataclass
class VerifyReport:
    generation: str
    manifest: Manifest
    checks: list[Check] = field(default_factory=list)
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks) and all(table.ok for table in self.tables)

    def problems(self) -> list[Problem]:
        found = [check.problem for check in self.checks if not check.ok and check.problem is not None]
        return found + [table.problem() for table in self.tables if not table.ok]


def evaluate(
    report: VerifyReport, digests: dict[str, TableDigest], revision: str | None, integrity: str | None = None
) -> VerifyReport:
    """Add the revision, integrity and per-table comparisons of a restored database to ``report``."""
    manifest = report.manifest
    if integrity is not None:
        report.checks.append(
            Check(
                "整合性検査（integrity_check）",
                "integrity check",
                integrity == "ok",
                integrity,
                Problem("DH-B112", {"generation": report.generation, "detail": integrity}),
            )
        )
    report.checks.append(
        Check(
            "スキーマのリビジョン",
            "schema revision",
            revision == manifest.alembic_revision,
            f"{revision}",
            Problem("DH-B113", {"expected": manifest.alembic_revision, "actual": revision}),
        )
    )
    report.tables = [TableCheck(name, exp, act) for name, exp, act in compare(manifest.digests(), digests)]
    return report


def start_report(generation: Generation, notify: Notify) -> tuple[VerifyReport, Path]:
    """Read the manifest and prove the dump's SHA-256 (``DH-B103``/``DH-B102`` raise)."""
    manifest = generation.manifest or read_manifest(generation.path)
    notify(Note(f"{generation.id} のチェックサムを確認しています", f"checking the checksum of {generation.id}"))
    dump = check_dump(generation.path, manifest)
    report = VerifyReport(generation.id, manifest)
    report.checks.append(Check("チェックサム（SHA-256）", "checksum (SHA-256)", True, manifest.dump.sha256[:16]))
    return report, dump


def check_sqlite_file(report: VerifyReport, path: Path) -> VerifyReport:
    """Integrity, revision and content of a restored SQLite file against the manifest."""
    integrity = sqlite_backup.integrity_of(path)
    if integrity != "ok":
        return evaluate(report, {}, None, integrity)
    digests, revision = sqlite_backup.digests_and_revision(path)
    return evaluate(report, digests, revision, integrity)


def verify_generation(
    settings: Settings, generation: Generation, notify: Notify = quiet, scratch_dir: Path | None = None
) -> VerifyReport:
    """Restore ``generation`` into a scratch database and compare it with its manifest.

    SQLite: the dump is decompressed into a temporary file (in ``scratch_dir`` or the system's temporary
    directory). PostgreSQL: a temporary database is created on the configured server, restored with the
    matching ``pg_restore``, hashed and dropped again; the configured role needs CREATEDB.
    """
    report, dump = start_report(generation, notify)
    if report.manifest.database.kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="datahealth-verify-", dir=scratch_dir) as scratch:
            path = Path(scratch) / "verify.sqlite3"
            notify(Note("一時ファイルへ復元しています", "restoring into a scratch file"))
            sqlite_backup.decompress(dump, path, generation.id)
            notify(Note("内容をマニフェストと照合しています", "comparing the content with the manifest"))
            return check_sqlite_file(report, path)
    if not settings.resolved_database_url().startswith(("postgresql", "postgres")):
        raise BackupError.of("DH-B110", kind="PostgreSQL", configured="SQLite")
    engine = make_engine(settings)
    try:
        server = postgres_backup.describe(engine)
    finally:
        engine.dispose()
    name = postgres_backup.scratch_name("verify")
    notify(Note(f"一時データベース {name} へ復元しています", f"restoring into the scratch database {name}"))
    postgres_backup.create_database(server, name)
    try:
        postgres_backup.restore_into(server, name, dump, settings.pg_bindir, scratch=True)
        notify(Note("内容をマニフェストと照合しています", "comparing the content with the manifest"))
        digests, revision = postgres_backup.digests_of(server.for_database(name))
    finally:
        postgres_backup.drop_database(server, name)
    return evaluate(report, digests, revision)
