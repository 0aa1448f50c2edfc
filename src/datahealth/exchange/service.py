"""Ingest a batch: read (CSV, JSON, FHIR NDJSON) → check → store, atomically, with a batch record.

One call is one batch (the web form, an API request or ``datahealth exchange ingest``):

* uploads are read by suffix — ``.csv`` one file per record type (record files streamed in chunks,
  so memory stays flat in the file size), ``.json`` one message per participant, ``.ndjson`` FHIR
  Observations;
* registries are checked and stored first, then records are checked against the registry snapshot
  including what the batch itself registered;
* every write of the batch happens inside one savepoint: all valid records are stored, or — in strict
  mode with any error (DH-X203), or on an unexpected failure — none. Nothing is ever half-stored;
* the ``Batch`` row (status, counts per record type) and its ``BatchIssue`` rows are always written;
* an ``idempotency_key`` already used by the same consortium returns the first batch's result with
  ``duplicate_of`` set and stores nothing (DH-X204). Resending without a key is harmless too: the
  update_time rule makes every record a no-op.

Registries only the secretariat may send (consortium, device, HbA1c method and activity recording
lists) are refused from a consortium with DH-X205. The caller owns the transaction and commits.
"""

from __future__ import annotations

import csv
import io
import logging
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import polars as pl
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from datahealth.errors import NotFound, Problem, UnsupportedMediaType, UserError
from datahealth.exchange.access import issue_of
from datahealth.exchange.check import check
from datahealth.exchange.fhir_import import read_fhir_ndjson
from datahealth.exchange.pipeline import CheckedBatch, Issue, RawBatch
from datahealth.exchange.read_csv import iter_csv_file, read_csv_files, record_type_for
from datahealth.exchange.read_json import read_json_message
from datahealth.exchange.registry import load_registry, merge_registry
from datahealth.exchange.spec_model import RecordKind
from datahealth.exchange.store import StoreCounts, store_checked
from datahealth.exchange.tables import Batch, BatchIssue

logger = logging.getLogger(__name__)

SECRETARIAT = ""
"""``Batch.consortium_id`` of batches the secretariat sent (it may cover several consortia)."""
SECRETARIAT_ONLY = frozenset({"consortium", "device", "hba1c_method", "activity_recording"})
"""Registries shared by every consortium: only the secretariat registers them (DH-X205)."""
COUNT_KEYS = ("received", "stored", "replaced", "unchanged", "stale", "conflict", "rejected", "flagged")
CHUNK_ROWS = 200_000
"""Records per chunk when a CSV file of records is streamed."""
_ISSUE_INSERT = 5_000
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Sender:
    """Who sends: a consortium (authenticated by token or login) or the secretariat (``None``)."""

    consortium_id: str | None
    label: str
    """``token:<id>``, ``user:<login>`` or ``cli``: recorded with the batch; never a secret."""


@dataclass
class Upload:
    """One file of a batch: its name (the suffix decides the format) and its bytes or its path."""

    name: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def wire_format(self) -> str:
        suffix = Path(self.name).suffix.lower()
        return {".csv": "csv", ".json": "json", ".ndjson": "fhir"}.get(suffix, "")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ValueError(f"upload {self.name} has neither data nor path")
        return self.path.read_bytes()

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        if self.data is not None:
            yield io.BytesIO(self.data)
        elif self.path is not None:
            with self.path.open("rb") as stream:
                yield stream
        else:
            raise ValueError(f"upload {self.name} has neither data nor path")

    def estimated_rows(self) -> int:
        """Data rows of a CSV file, counted as line breaks (for the progress bar only)."""
        if self.data is not None:
            return max(0, self.data.count(b"\n") - 1)
        lines = 0
        with self.open() as stream:
            while block := stream.read(1 << 20):
                lines += block.count(b"\n")
        return max(0, lines - 1)


@dataclass
class IngestResult:
    batch_id: str
    status: str
    """accepted (nothing rejected), partial (some records rejected), rejected (nothing stored)."""
    counts: dict[str, dict[str, int]]
    """Per record type: received, stored, replaced, unchanged, stale, conflict, rejected, flagged."""
    issues: list[Issue]
    duplicate_of: str | None = None
    """The batch first received with the same idempotency key (this call stored nothing)."""

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    def audit_detail(self, channel: str, files: int) -> dict[str, object]:
        """What the audit log says about this batch: counts of records, never their values."""
        return {
            "channel": channel,
            "status": self.status,
            "files": files,
            "received": self.total("received"),
            "stored": self.total("stored"),
            "rejected": self.total("rejected"),
            "duplicate_of": self.duplicate_of or "",
        }

    def total(self, key: str) -> int:
        return sum(counts.get(key, 0) for counts in self.counts.values())


@dataclass
class _Work:
    """What a batch has found and done so far (across registries, records and CSV chunks)."""

    strict: bool
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    error_count: int = 0

    def row(self, record_type: str) -> dict[str, int]:
        return self.counts.setdefault(record_type, dict.fromkeys(COUNT_KEYS, 0))

    def add_issues(self, issues: Sequence[Issue]) -> None:
        self.issues.extend(issues)
        self.error_count += sum(1 for issue in issues if issue.severity == "error")

    def checked(self, checked: CheckedBatch) -> None:
        for name, received in checked.received.items():
            counts = self.row(name)
            counts["received"] += received
            counts["rejected"] += checked.rejected(name)
        self.add_issues(checked.issues)

    def stored(self, counts: dict[str, StoreCounts], issues: list[Issue]) -> None:
        for name, result in counts.items():
            row = self.row(name)
            for key, value in result.as_dict().items():
                row[key] += value
        self.add_issues(issues)

    @property
    def may_store(self) -> bool:
        """In strict mode nothing more is written once an error is known (the savepoint is rolled back)."""
        return not (self.strict and self.error_count)

    def nothing_stored(self) -> None:
        for row in self.counts.values():
            for key in ("stored", "replaced", "unchanged", "stale", "conflict", "flagged"):
                row[key] = 0
            row["rejected"] = row["received"]

    def status(self) -> str:
        if not self.error_count:
            return "accepted"
        kept = sum(row["stored"] + row["replaced"] + row["unchanged"] for row in self.counts.values())
        return "partial" if kept else "rejected"


def ingest(
    db: Session,
    sender: Sender,
    uploads: Sequence[Upload],
    *,
    channel: str,
    strict: bool = False,
    idempotency_key: str | None = None,
    now: datetime,
    progress: Progress | None = None,
) -> IngestResult:
    """Receive one batch; see the module docstring. Raises ``UserError`` only for whole-request problems."""
    if not uploads:
        raise UserError(Problem("DH-G400", field="files"))
    unsupported = [upload.name for upload in uploads if not upload.wire_format]
    if unsupported:
        raise UnsupportedMediaType.of("DH-X303", value=", ".join(unsupported))
    owner = sender.consortium_id or SECRETARIAT
    key = (idempotency_key or "").strip()[:100] or None
    if key is not None:
        first = _batch_with_key(db, owner, key)
        if first is not None:
            return _duplicate(db, first)
    formats = {upload.wire_format for upload in uploads}
    batch = Batch(
        id=str(uuid.uuid4()),
        consortium_id=owner,
        received_at=now,
        channel=channel,
        wire_format=formats.pop() if len(formats) == 1 else "mixed",
        sources=[upload.name for upload in uploads],
        strict=strict,
        status="processing",
        counts={},
        idempotency_key=key,
        submitted_by=sender.label[:100],
    )
    if not _insert_batch(db, batch):  # the same key was used at the same moment by another request
        first = _batch_with_key(db, owner, key or "")
        if first is None:
            raise UserError(Problem("DH-G400", field="idempotency_key"))
        return _duplicate(db, first)

    work = _Work(strict)
    # The Batch row was written first, so this savepoint is nested in a real transaction on SQLite too.
    savepoint = db.begin_nested()
    try:
        _process(db, sender, uploads, batch.id, work, now, progress)
    except (OperationalError, InterfaceError):  # the database itself failed: nothing can be kept, not even the batch
        raise
    except Exception as error:  # any failure: roll back every record, keep the batch and say so
        savepoint.rollback()
        logger.error(  # noqa: TRY400 - not .exception(): the message of a database error may quote sent values
            "exchange batch %s failed (%s), nothing stored\n%s",
            batch.id,
            type(error).__name__,
            "".join(traceback.format_tb(error.__traceback__)),  # no message: it may quote sent values
        )
        work.nothing_stored()
        work.add_issues([Issue("error", "DH-G500", ", ".join(batch.sources)[:200], "")])
        batch.idempotency_key = None  # a retry with the same key must be processed, not answered from here
    else:
        if work.strict and work.error_count:
            savepoint.rollback()
            work.nothing_stored()
            work.add_issues([Issue("error", "DH-X203", "", "", params={"count": work.error_count})])
        else:
            savepoint.commit()

    batch.status = work.status()
    batch.counts = work.counts
    db.flush()
    _write_issues(db, batch.id, work.issues)
    return IngestResult(batch.id, batch.status, work.counts, work.issues)


# --- the steps of a batch ----------------------------------------------------------------------------------


def _process(
    db: Session,
    sender: Sender,
    uploads: Sequence[Upload],
    batch_id: str,
    work: _Work,
    now: datetime,
    progress: Progress | None,
) -> None:
    streamed = [
        upload
        for upload in uploads
        if upload.wire_format == "csv"
        and (record := record_type_for(upload.name)) is not None
        and record.kind == RecordKind.RECORD
    ]
    whole = _refuse_secretariat_only(sender, _read_whole(uploads, streamed), work)
    total = sum(frame.height for frame in whole.frames.values()) + sum(u.estimated_rows() for u in streamed)
    done = 0
    report = progress or (lambda _done, _total: None)
    report(0, total)

    # Registries are checked before records (the checker's order) and stored before them (the store's),
    # so a batch may register participants and send their records at once.
    snapshot = load_registry(db, None if sender.consortium_id is None else [sender.consortium_id])
    if whole.frames or whole.issues:
        checked = check(whole, snapshot, sender=sender.consortium_id, now=now)
        _check_and_store(db, checked, batch_id, work, now)
        snapshot = merge_registry(snapshot, checked)
        done += sum(checked.received.values())
        report(min(done, total), total)
    # Streamed files: a one-deep pipeline on PostgreSQL. While chunk k is written (the server does most of
    # that work and COPY releases the GIL), chunk k + 1 is read and checked. The session is used by one thread
    # at a time: the next write starts only after the previous one has finished. SQLite writes inline (its
    # executemany holds the GIL, and its connections may be bound to their thread).
    threaded = db.get_bind().dialect.name == "postgresql"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="exchange-store") as writer:
        pending: Future[tuple[dict[str, StoreCounts], list[Issue]]] | None = None
        try:
            for upload in streamed:
                with upload.open() as stream:
                    for chunk in iter_csv_file(upload.name, stream, CHUNK_ROWS):
                        checked = check(chunk, snapshot, sender=sender.consortium_id, now=now)
                        if pending is not None:
                            work.stored(*pending.result())
                            pending = None
                        work.checked(checked)
                        if work.may_store and threaded:
                            pending = writer.submit(store_checked, db, checked, batch_id, now)
                        elif work.may_store:
                            work.stored(*store_checked(db, checked, batch_id, now))
                        done += sum(checked.received.values())
                        report(min(done, total), max(total, done))
            if pending is not None:
                work.stored(*pending.result())
        finally:
            if pending is not None:  # an error in this thread: let the write finish before rolling back
                wait([pending])
    report(max(total, done), max(total, done))


def _check_and_store(db: Session, checked: CheckedBatch, batch_id: str, work: _Work, now: datetime) -> None:
    work.checked(checked)
    if work.may_store:
        counts, issues = store_checked(db, checked, batch_id, now)
        work.stored(counts, issues)


def _read_whole(uploads: Sequence[Upload], streamed: Sequence[Upload]) -> RawBatch:
    """Every upload that is not streamed, read into one RawBatch (frames of a record type concatenated)."""
    parts: list[RawBatch] = []
    csv_files = [(u.name, u.read()) for u in uploads if u.wire_format == "csv" and u not in streamed]
    if csv_files:
        parts.append(read_csv_files(csv_files))
    for upload in uploads:
        if upload.wire_format == "json":
            parts.append(read_json_message(upload.read(), source=upload.name))
        elif upload.wire_format == "fhir":
            parts.append(read_fhir_ndjson(upload.read(), source=upload.name))
    return _merge(parts)


def _merge(parts: Sequence[RawBatch]) -> RawBatch:
    frames: dict[str, list[pl.DataFrame]] = {}
    issues: list[Issue] = []
    sources: list[str] = []
    for part in parts:
        sources += part.sources
        issues += part.issues
        for name, frame in part.frames.items():
            frames.setdefault(name, []).append(frame)
    merged = {name: pl.concat(group, how="diagonal") for name, group in frames.items()}
    wire = parts[0].wire_format if len({part.wire_format for part in parts}) == 1 else "csv"
    header = parts[0].header if len(parts) == 1 else None
    return RawBatch(wire, sources, merged, issues, header)


def _refuse_secretariat_only(sender: Sender, raw: RawBatch, work: _Work) -> RawBatch:
    """A consortium may not send the shared registries: each such file is refused whole (DH-X205)."""
    if sender.consortium_id is None:
        return raw
    kept: dict[str, pl.DataFrame] = {}
    for name, frame in raw.frames.items():
        if name not in SECRETARIAT_ONLY:
            kept[name] = frame
            continue
        counts = work.row(name)
        counts["received"] += frame.height
        counts["rejected"] += frame.height
        sources = frame.get_column("_source").unique(maintain_order=True).to_list() if frame.height else []
        work.add_issues([Issue("error", "DH-X205", source, "", name) for source in sources])
    return RawBatch(raw.wire_format, raw.sources, kept, raw.issues, raw.header)


# --- the batch row, idempotency and the issue rows ---------------------------------------------------------


def _batch_with_key(db: Session, owner: str, key: str) -> Batch | None:
    return db.scalar(select(Batch).where(Batch.consortium_id == owner, Batch.idempotency_key == key))


def _insert_batch(db: Session, batch: Batch) -> bool:
    """Write the Batch row first (records refer to it); False if its idempotency key was taken meanwhile."""
    if batch.idempotency_key is None or db.get_bind().dialect.name != "postgresql":
        # SQLite serialises writers; a savepoint opened before any write would commit on release there.
        db.add(batch)
        db.flush()
        return True
    try:
        with db.begin_nested():
            db.add(batch)
    except IntegrityError:
        return False
    return True


def _duplicate(db: Session, first: Batch) -> IngestResult:
    rows = db.scalars(select(BatchIssue).where(BatchIssue.batch_id == first.id).order_by(BatchIssue.id))
    issues = [issue_of(row) for row in rows]
    issues.append(Issue("info", "DH-X204", "", "", value=first.id))
    return IngestResult(first.id, first.status, dict(first.counts), issues, duplicate_of=first.id)


def _write_issues(db: Session, batch_id: str, issues: Sequence[Issue]) -> None:
    rows = [
        {
            "batch_id": batch_id,
            "severity": issue.severity,
            "code": issue.code,
            "source": issue.source[:200],
            "locator": issue.locator[:200],
            "record_type": issue.record_type[:40],
            "field": issue.field[:60],
            "value": issue.value[:200],
            "rule": issue.rule[:200],
            "params": issue.params,
        }
        for issue in issues
    ]
    for start in range(0, len(rows), _ISSUE_INSERT):
        db.execute(insert(BatchIssue), rows[start : start + _ISSUE_INSERT])


ISSUE_COLUMNS = (
    "severity",
    "code",
    "source",
    "locator",
    "record_type",
    "field",
    "value",
    "rule",
    "message_ja",
    "message_en",
)


def issues_csv(db: Session, batch_id: str) -> bytes:
    """The sender's error report: every issue of the batch, with messages in Japanese and English (UTF-8 BOM)."""
    if db.get(Batch, batch_id) is None:
        raise NotFound()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ISSUE_COLUMNS)
    rows = db.scalars(select(BatchIssue).where(BatchIssue.batch_id == batch_id).order_by(BatchIssue.id))
    for row in rows:
        problem = Problem(
            row.code,
            {
                "source": row.source,
                "locator": row.locator,
                "record_type": row.record_type,
                "field": row.field,
                "value": row.value,
                "rule": row.rule,
                **(row.params or {}),
            },
        )
        writer.writerow(
            [
                row.severity,
                row.code,
                row.source,
                row.locator,
                row.record_type,
                row.field,
                row.value,
                row.rule,
                problem.message("ja"),
                problem.message("en"),
            ]
        )
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
