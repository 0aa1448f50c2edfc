"""SQLite: a consistent copy with the online backup API, gzip, integrity checks and an atomic file swap."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from datahealth import migrate
from datahealth.backup.common import BackupError, fsync_dir, fsync_file
from datahealth.backup.contenthash import TableDigest, database_digests

_CHUNK = 1024 * 1024
IN_USE_TIMEOUT_SECONDS = 2.0


def database_path(url: str) -> Path:
    """The file behind an ``sqlite:///…`` URL (``DH-B114`` for in-memory databases)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError.of("DH-B114", detail="in-memory SQLite / メモリ上の SQLite")
    return Path(database)


def snapshot(source: Path, target: Path) -> str:
    """Copy ``source`` into ``target`` while the application may be writing; return ``integrity_check``.

    The backup API copies every page in one step under one read transaction (WAL lets writers go on),
    so the copy is the database as of one commit. The copy is switched to a self-contained
    rollback-journal file so that it needs no ``-wal``/``-shm`` companions.
    """
    if not source.is_file():
        raise BackupError.of("DH-B114", detail=f"{source} does not exist / ファイルがありません")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            result = integrity_check(dst)
        finally:
            dst.close()
    finally:
        src.close()
    fsync_file(target)
    return result


def integrity_check(connection: sqlite3.Connection) -> str:
    rows = connection.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows[:5])


def integrity_of(path: Path) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return integrity_check(connection)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        connection.close()


def compress(raw: Path, target: Path) -> None:
    """gzip ``raw`` into ``target`` (no timestamp or name in the header, so equal input gives equal output)."""
    with raw.open("rb") as source, target.open("wb") as sink:
        with gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=6, mtime=0) as packed:
            shutil.copyfileobj(source, packed, _CHUNK)
        sink.flush()
        os.fsync(sink.fileno())


def decompress(packed: Path, target: Path, generation: str) -> None:
    try:
        with gzip.open(packed, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)
            sink.flush()
            os.fsync(sink.fileno())
    except (OSError, EOFError, zlib.error) as exc:
        target.unlink(missing_ok=True)
        raise BackupError.of("DH-B112", generation=generation, detail=f"gzip: {exc}") from None


@contextmanager
def read_only_engine(path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///file:{path.resolve().as_posix()}?mode=ro&uri=true", poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def digests_and_revision(path: Path) -> tuple[dict[str, TableDigest], str | None]:
    with read_only_engine(path) as engine:
        with engine.connect() as connection:
            digests = database_digests(connection)
        return digests, migrate.current_revision(engine)


def server_version() -> str:
    return sqlite3.sqlite_version


def row_count(path: Path) -> int:
    """Rows outside ``alembic_version`` in an SQLite file (0 when it does not exist)."""
    if not path.is_file():
        return 0
    from datahealth.backup.contenthash import has_rows

    with read_only_engine(path) as engine, engine.connect() as connection:
        return has_rows(connection)


def close_for_swap(path: Path) -> None:
    """Prove that nobody else has the database open, and fold its WAL into the main file.

    Leaving WAL mode needs the only connection to the database; while the server (or anything else)
    holds it open the switch fails with SQLITE_BUSY and this raises ``DH-B109``. Afterwards the file is
    complete on its own (no ``-wal``), so moving it aside keeps every committed transaction.
    """
    connection = sqlite3.connect(path, timeout=IN_USE_TIMEOUT_SECONDS)
    try:
        mode = connection.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.OperationalError as exc:
        raise BackupError.of("DH-B109", path=str(path), detail=str(exc)) from None
    finally:
        connection.close()
    if not mode or str(mode[0]).lower() != "delete":
        raise BackupError.of("DH-B109", path=str(path), detail=f"journal_mode={mode[0] if mode else '?'}")


def swap_in(new: Path, target: Path, aside: Path | None) -> None:
    """Put ``new`` in place of ``target`` atomically, keeping the old database as ``aside``.

    The old file gets a second name first (a hard link, or a copy where links are impossible), then one
    ``rename`` replaces the target: at every moment ``target`` is a complete database, old or new.
    """
    if target.exists():
        shutil.copymode(target, new)  # the restored file gets the permissions the live one had
    if aside is not None and target.exists():
        try:
            os.link(target, aside)
        except OSError:
            shutil.copy2(target, aside)
            fsync_file(aside)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(new, target)
    fsync_dir(target.parent)
