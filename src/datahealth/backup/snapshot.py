"""``datahealth backup``: write one generation, keep N, mark them read-only, copy to the offline medium."""

from __future__ import annotations

import fcntl
import platform
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy

from datahealth import __version__
from datahealth.backup import postgres_backup, sqlite_backup
from datahealth.backup.common import (
    MANIFEST_NAME,
    POSTGRES_DUMP_NAME,
    SQLITE_DUMP_NAME,
    SUMS_NAME,
    BackupError,
    Note,
    Notify,
    ensure_writable_dir,
    fsync_dir,
    fsync_file,
    mark_read_only,
    quiet,
    remove_tree,
    safe_label,
    sha256_file,
)
from datahealth.backup.contenthash import HASH_METHOD
from datahealth.backup.manifest import (
    DatabaseEntry,
    DatabaseKind,
    DumpEntry,
    Generation,
    Manifest,
    TableEntry,
    check_dump,
    generation_id,
    list_generations,
    read_manifest,
    read_sums,
    write_manifest,
)
from datahealth.backup.verify import VerifyReport, verify_generation
from datahealth.config import Settings
from datahealth.db import make_engine

LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"
_NO_PERMISSIONS = Note(
    "この保存先はファイルの権限を保持できないため、読み取り専用にできません（媒体を取り外して保護してください）",
    "this location keeps no file permissions, so the generation cannot be made read-only (detach the medium)",
)


@dataclass(frozen=True)
class CopyResult:
    path: Path
    deleted: list[str] = field(default_factory=list)
    already_present: bool = False
    read_only: bool = True
    """``False`` on a medium without Unix permissions (FAT/exFAT): detach it to protect the copy."""


@dataclass(frozen=True)
class BackupResult:
    generation: Generation
    manifest: Manifest
    deleted: list[str]
    """Generations removed because more than ``keep`` were present."""
    copy: CopyResult | None = None
    report: VerifyReport | None = None
    """With ``verify``: the restore check of the new generation (retention and copy only run if it is ok)."""

    @property
    def ok(self) -> bool:
        return self.report is None or self.report.ok


def default_dir(settings: Settings) -> Path:
    return Path(settings.backup_dir) if settings.backup_dir else settings.data_dir / "backups"


def database_kind(settings: Settings) -> DatabaseKind:
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith(("postgresql", "postgres")):
        return "postgresql"
    raise BackupError.of("DH-B114", detail=url.split(":", 1)[0])


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One backup at a time per directory (``DH-B115`` when another one holds the lock)."""
    with (directory / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError.of("DH-B115", path=str(directory)) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_unfinished(directory: Path) -> None:
    """Half-written generations of a crashed run (only ever called while holding the lock)."""
    for child in directory.iterdir():
        if child.is_dir() and child.name.startswith(TMP_PREFIX):
            remove_tree(child)


def _tools() -> dict[str, str]:
    return {
        "datahealth": __version__,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
    }


def create_backup(
    settings: Settings,
    directory: Path,
    keep: int,
    copy_to: Path | None = None,
    label: str | None = None,
    notify: Notify = quiet,
    now: datetime | None = None,
    verify: bool = False,
) -> BackupResult:
    """Write a new generation into ``directory``, then apply retention and make the offline copy.

    The generation is built in a hidden ``.tmp-…`` directory, synced, and renamed into place in one
    step, so a crash never leaves a half generation that looks finished. Retention runs only after the
    new generation exists (and, with ``verify``, restored and matched its manifest), so a bad backup
    never pushes a good one out, here or on the offline medium; every kept generation is read-only.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    kind = database_kind(settings)
    ensure_writable_dir(directory)
    created_at = (now or datetime.now(UTC)).astimezone(UTC)
    with locked(directory):
        _remove_unfinished(directory)
        work = directory / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        work.mkdir(mode=0o700)
        try:
            if kind == "sqlite":
                manifest = _sqlite_generation(settings, work, created_at, label, notify)
            else:
                manifest = _postgres_generation(settings, work, created_at, label, notify)
            final_id = _unique_id(directory, manifest.id, labelled=manifest.label is not None)
            if final_id != manifest.id:
                manifest = manifest.model_copy(update={"id": final_id})
            write_manifest(work, manifest)
            for child in work.iterdir():
                fsync_file(child)
            fsync_dir(work)
            final = directory / final_id
            work.rename(final)
            fsync_dir(directory)
        except BaseException:
            if work.exists():
                remove_tree(work)
            raise
        if not mark_read_only(final):
            notify(_NO_PERMISSIONS)
        notify(Note(f"世代 {final_id} を作成しました", f"generation {final_id} written"))
        generation = Generation(final, manifest, None)
        report = verify_generation(settings, generation, notify) if verify else None
        if report is not None and not report.ok:
            return BackupResult(generation=generation, manifest=manifest, deleted=[], report=report)
        deleted = apply_retention(directory, keep, notify)
    copy = copy_generation(generation, copy_to, keep, notify) if copy_to is not None else None
    return BackupResult(generation=generation, manifest=manifest, deleted=deleted, copy=copy, report=report)


def _unique_id(directory: Path, wanted: str, labelled: bool) -> str:
    """Two backups in the same second: ``…_r0002_2`` (or ``…_r0002_label-2``)."""
    if not (directory / wanted).exists():
        return wanted
    number = 2
    while True:
        candidate = f"{wanted}-{number}" if labelled else f"{wanted}_{number}"
        if not (directory / candidate).exists():
            return candidate
        number += 1


def _sqlite_generation(
    settings: Settings, work: Path, created_at: datetime, label: str | None, notify: Notify
) -> Manifest:
    source = sqlite_backup.database_path(settings.resolved_database_url())
    raw = work / "snapshot.sqlite3"
    notify(Note(f"{source} の一貫したコピーを作成しています", f"taking a consistent copy of {source}"))
    integrity = sqlite_backup.snapshot(source, raw)
    if integrity != "ok":
        raise BackupError.of("DH-B112", generation=str(source), detail=integrity)
    notify(Note("行数とハッシュを計算しています", "counting rows and hashing tables"))
    digests, revision = sqlite_backup.digests_and_revision(raw)
    notify(Note("圧縮しています（gzip）", "compressing (gzip)"))
    dump = work / SQLITE_DUMP_NAME
    sqlite_backup.compress(raw, dump)
    raw.unlink()
    tools = _tools() | {"sqlite": sqlite_backup.server_version()}
    clean_label = safe_label(label)
    return Manifest(
        id=generation_id(created_at, "sqlite", revision, clean_label),
        label=clean_label,
        created_at=created_at,
        database=DatabaseEntry(kind="sqlite", location=str(source), server_version=sqlite_backup.server_version()),
        alembic_revision=revision,
        tools=tools,
        hash_method=HASH_METHOD,
        tables={name: TableEntry(rows=d.rows, sha256=d.sha256) for name, d in digests.items()},
        dump=DumpEntry(
            file=SQLITE_DUMP_NAME, format="sqlite3+gzip", bytes=dump.stat().st_size, sha256=sha256_file(dump)
        ),
        integrity_check=integrity,
    )


def _postgres_generation(
    settings: Settings, work: Path, created_at: datetime, label: str | None, notify: Notify
) -> Manifest:
    engine = make_engine(settings)
    try:
        server = postgres_backup.describe(engine)
        dump = work / POSTGRES_DUMP_NAME
        result = postgres_backup.dump(engine, server, dump, settings.pg_bindir, notify)
        location = engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
    clean_label = safe_label(label)
    return Manifest(
        id=generation_id(created_at, "postgresql", result.revision, clean_label),
        label=clean_label,
        created_at=created_at,
        database=DatabaseEntry(
            kind="postgresql",
            location=location,
            server_version=server.version,
            encoding=server.encoding,
            collate=server.collate,
            ctype=server.ctype,
        ),
        alembic_revision=result.revision,
        tools=_tools() | {"pg_dump": result.tool.version, "postgresql": server.version},
        hash_method=HASH_METHOD,
        tables={name: TableEntry(rows=d.rows, sha256=d.sha256) for name, d in result.digests.items()},
        dump=DumpEntry(
            file=POSTGRES_DUMP_NAME, format="pg_dump-custom", bytes=dump.stat().st_size, sha256=sha256_file(dump)
        ),
    )


def apply_retention(directory: Path, keep: int, notify: Notify = quiet) -> list[str]:
    """Delete all but the ``keep`` newest generations; make sure the kept ones are read-only."""
    generations = list_generations(directory)
    doomed = generations[:-keep] if len(generations) > keep else []
    for generation in doomed:
        remove_tree(generation.path)
        notify(Note(f"古い世代 {generation.id} を削除しました", f"removed old generation {generation.id}"))
    for generation in generations[len(doomed) :]:
        mark_read_only(generation.path)
    if doomed:
        fsync_dir(directory)
    return [generation.id for generation in doomed]


def copy_generation(generation: Generation, destination: Path, keep: int, notify: Notify = quiet) -> CopyResult:
    """Copy a generation to a second location (the offline medium) and prove the copy by its checksums.

    Files are copied into a hidden directory, synced, checked against the manifest and ``SHA256SUMS``
    read back from the medium, then renamed into place and made read-only; retention with the same
    ``keep`` runs on the medium. A generation already present with the same checksums is left alone.
    """
    manifest = generation.manifest or read_manifest(generation.path)
    ensure_writable_dir(destination)
    notify(Note(f"{destination} へ複製しています", f"copying to {destination}"))
    with locked(destination):
        _remove_unfinished(destination)
        target = destination / generation.id
        if target.exists():
            _check_copy(target, generation.path, manifest)
            return CopyResult(target, [], already_present=True)
        work = destination / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        work.mkdir(mode=0o700)
        try:
            for name in (manifest.dump.file, MANIFEST_NAME, SUMS_NAME):
                shutil.copyfile(generation.path / name, work / name)
                fsync_file(work / name)
            fsync_dir(work)
            _check_copy(work, generation.path, manifest)
            work.rename(target)
            fsync_dir(destination)
        except BaseException:
            if work.exists():
                remove_tree(work)
            raise
        read_only = mark_read_only(target)
        notify(Note("複製のチェックサムを確認しました", "the copy's checksums match"))
        if not read_only:
            notify(_NO_PERMISSIONS)
        deleted = apply_retention(destination, keep, notify)
    return CopyResult(target, deleted, read_only=read_only)


def _check_copy(copy: Path, original: Path, manifest: Manifest) -> None:
    copied = read_manifest(copy)
    check_dump(copy, copied)
    if copied.dump.sha256 != manifest.dump.sha256 or read_sums(copy) != read_sums(original):
        raise BackupError.of(
            "DH-B102",
            generation=copy.name,
            file=f"{copy}/{SUMS_NAME}",
            expected=manifest.dump.sha256,
            actual=copied.dump.sha256,
        )


def dir_size(path: Path) -> int:
    return sum(child.stat().st_size for child in path.iterdir() if child.is_file())
