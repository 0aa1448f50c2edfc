"""The manifest of one generation (``manifest.json``) and its ``SHA256SUMS``; listing generations."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from datahealth.backup.common import MANIFEST_NAME, SUMS_NAME, BackupError, sha256_file
from datahealth.backup.contenthash import TableDigest

GENERATION_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)_(sqlite|postgresql)_r([A-Za-z0-9]+)(?:_[A-Za-z0-9-]+)?$")
DatabaseKind = Literal["sqlite", "postgresql"]


class TableEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int
    sha256: str

    def digest(self) -> TableDigest:
        return TableDigest(rows=self.rows, sha256=self.sha256)


class DumpEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    format: Literal["sqlite3+gzip", "pg_dump-custom"]
    bytes: int
    sha256: str


class DatabaseEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: DatabaseKind
    location: str
    """The database URL with its password hidden (SQLite: the file path)."""
    server_version: str
    encoding: str | None = None
    collate: str | None = None
    ctype: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    format: Literal["datahealth-backup/1"] = "datahealth-backup/1"
    id: str
    label: str | None = None
    created_at: datetime
    database: DatabaseEntry
    alembic_revision: str | None
    tools: dict[str, str]
    hash_method: str
    tables: dict[str, TableEntry]
    dump: DumpEntry
    integrity_check: str | None = None
    """SQLite's ``PRAGMA integrity_check`` on the snapshot before it was compressed."""

    def digests(self) -> dict[str, TableDigest]:
        return {name: entry.digest() for name, entry in self.tables.items()}

    @property
    def total_rows(self) -> int:
        return sum(entry.rows for entry in self.tables.values())


def generation_id(created_at: datetime, kind: DatabaseKind, revision: str | None, label: str | None) -> str:
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    rev = re.sub(r"[^A-Za-z0-9]", "", revision or "") or "none"
    return f"{stamp}_{kind}_r{rev}" + (f"_{label}" if label else "")


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` and then ``SHA256SUMS`` covering the dump and the manifest."""
    path = directory / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    sums = f"{manifest.dump.sha256}  {manifest.dump.file}\n{sha256_file(path)}  {MANIFEST_NAME}\n"
    (directory / SUMS_NAME).write_text(sums, encoding="utf-8")


def read_manifest(directory: Path) -> Manifest:
    """The generation's manifest, checked against ``SHA256SUMS`` (``DH-B103``/``DH-B102`` otherwise)."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise BackupError.of("DH-B103", generation=directory.name, detail=f"{MANIFEST_NAME} not found")
    sums = read_sums(directory)
    expected = sums.get(MANIFEST_NAME)
    if expected is not None:
        actual = sha256_file(path)
        if actual != expected:
            raise BackupError.of(
                "DH-B102", generation=directory.name, file=MANIFEST_NAME, expected=expected, actual=actual
            )
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        detail = str(exc).splitlines()[0][:200]
        raise BackupError.of("DH-B103", generation=directory.name, detail=detail) from None


def read_sums(directory: Path) -> dict[str, str]:
    path = directory / SUMS_NAME
    if not path.is_file():
        return {}
    sums: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            sums[name.strip()] = digest.strip()
    return sums


def check_dump(directory: Path, manifest: Manifest) -> Path:
    """The dump file, after proving that its SHA-256 is the one the manifest recorded (``DH-B102``)."""
    dump = directory / manifest.dump.file
    if not dump.is_file():
        raise BackupError.of("DH-B103", generation=directory.name, detail=f"{manifest.dump.file} not found")
    actual = sha256_file(dump)
    if actual != manifest.dump.sha256:
        raise BackupError.of(
            "DH-B102", generation=directory.name, file=manifest.dump.file, expected=manifest.dump.sha256, actual=actual
        )
    return dump


@dataclass(frozen=True)
class Generation:
    """A generation directory as found on disk; ``manifest`` is ``None`` when it cannot be read."""

    path: Path
    manifest: Manifest | None
    problem: str | None

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def created_at(self) -> datetime:
        if self.manifest is not None:
            return self.manifest.created_at
        match = GENERATION_PATTERN.match(self.path.name)
        stamp = match.group(1) if match else "19700101T000000Z"
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def list_generations(directory: Path) -> list[Generation]:
    """Every finished generation in ``directory``, oldest first (unfinished ``.tmp-*`` ones are skipped)."""
    if not directory.is_dir():
        return []
    found: list[Generation] = []
    for child in directory.iterdir():
        if not child.is_dir() or not GENERATION_PATTERN.match(child.name):
            continue
        try:
            found.append(Generation(child, read_manifest(child), None))
        except BackupError as error:
            found.append(Generation(child, None, error.problems[0].message("en")))
    return sorted(found, key=lambda generation: (generation.created_at, generation.id))


def find_generation(directory: Path, wanted: str | None) -> Generation:
    """A generation by id, ``latest``/``None`` for the newest, or a path to a generation directory."""
    if wanted and ("/" in wanted or wanted.startswith(".")):
        candidate = Path(wanted)
        if candidate.is_dir():
            try:
                return Generation(candidate, read_manifest(candidate), None)
            except BackupError as error:
                return Generation(candidate, None, error.problems[0].message("en"))
    generations = list_generations(directory)
    if not generations:
        raise BackupError.of("DH-B111", path=str(directory))
    if wanted in (None, "", "latest"):
        return generations[-1]
    for generation in generations:
        if generation.id == wanted:
            return generation
    available = ", ".join(generation.id for generation in generations[-5:])
    raise BackupError.of("DH-B107", generation=wanted, path=str(directory), available=available)
