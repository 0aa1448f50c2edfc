"""What every backup module shares: the error class, progress notes, file checksums, fsync, permissions."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datahealth.errors import DatahealthError

MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"
SQLITE_DUMP_NAME = "database.sqlite3.gz"
POSTGRES_DUMP_NAME = "database.pgdump"
READ_ONLY_FILE = 0o440
READ_ONLY_DIR = 0o550
"""Finished generations: nobody may write, and others may not read (the dumps hold health records)."""
PRIVATE_DIR = 0o750
_CHUNK = 1024 * 1024


class BackupError(DatahealthError):
    """A backup, verification or restore that cannot go on; carries one catalogued ``DH-B1xx`` problem."""

    status = 500


@dataclass(frozen=True)
class Note:
    """One progress message for the operator, Japanese first."""

    ja: str
    en: str


Notify = Callable[[Note], None]


def quiet(_note: Note) -> None:
    """The default progress callback: say nothing."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on a directory; the data is synced
    finally:
        os.close(descriptor)


def mark_read_only(directory: Path) -> bool:
    """Files 0440, the directory 0550: a finished generation is never written again.

    Returns ``False`` where the file system keeps no Unix permissions (a FAT/exFAT USB medium, some
    network shares); the generation is then as protected as its medium.
    """
    try:
        for child in directory.iterdir():
            if child.is_file():
                child.chmod(READ_ONLY_FILE)
        directory.chmod(READ_ONLY_DIR)
    except PermissionError:
        return False
    return is_read_only(directory)


def is_read_only(directory: Path) -> bool:
    if stat.S_IMODE(directory.stat().st_mode) & 0o222:
        return False
    return all(not stat.S_IMODE(child.stat().st_mode) & 0o222 for child in directory.iterdir() if child.is_file())


def remove_tree(directory: Path) -> None:
    """Delete a (possibly read-only) generation: give the owner write permission back first."""
    try:
        for root, dirs, _files in os.walk(directory):
            for name in dirs:
                (Path(root) / name).chmod(0o700)
        directory.chmod(0o700)
    except PermissionError:
        pass  # no Unix permissions on this file system: nothing to give back
    shutil.rmtree(directory)


def ensure_writable_dir(directory: Path) -> None:
    """Create ``directory`` if needed and prove that files can be written there (``DH-B101`` otherwise)."""
    probe = directory / f".write-test-{os.getpid()}"
    try:
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            pass
        else:
            directory.chmod(PRIVATE_DIR)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BackupError.of("DH-B101", path=str(directory), detail=exc.strerror or type(exc).__name__) from None


def safe_label(label: str | None) -> str | None:
    """Labels become part of a directory name: letters, digits and ``-`` only, at most 40 characters."""
    if not label:
        return None
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", label).strip("-")[:40]
    return cleaned or None


def scrub(text: str, secrets: list[str]) -> str:
    """Remove secrets from a tool's message before it reaches an operator or a log."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", text)


def tail(text: str, limit: int = 600) -> str:
    """The last lines of a tool's stderr, short enough for one message."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    result = " / ".join(lines[-4:])
    return result[-limit:] if len(result) > limit else result
