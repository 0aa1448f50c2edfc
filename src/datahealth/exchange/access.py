"""Tenant-scoped reads for the API, FHIR and the web pages: batches, their issues, a participant's records.

Every read names a ``Reader``: the consortium it reads (its own, or ``None`` for every consortium) and
whether it may read **record level** data. The rule, decided here and only here:

- a consortium operator or a consortium's API token: its own consortium, records included;
- the ministry administrator (secretariat): every consortium, records included (every read is audited);
- a researcher (web role ``researcher``) or a read-only token for every consortium (``ALL_CONSORTIA``):
  every consortium, **aggregates only**: batch summaries and counts, issue counts per code, data-quality
  figures (with small groups suppressed, ``quality_report``). Record-level reads (a participant's
  records, FHIR export of Patients and Observations, issue rows that carry submitted values and
  participant ids, the issue report download) raise ``NotFound``.

Anything outside the reader's scope raises ``NotFound``, exactly as if it did not exist, so one tenant
never learns about another's objects, and an aggregate-only reader never learns whether a record exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Role
from datahealth.errors import NotFound
from datahealth.exchange import quality, spec
from datahealth.exchange.pipeline import Issue, Severity
from datahealth.exchange.spec_model import Kind, RecordType
from datahealth.exchange.tables import Batch, BatchIssue, table_for
from datahealth.exchange.tokens import ALL_CONSORTIA

AGGREGATE_ONLY_ROLES = frozenset({Role.RESEARCHER.value})
"""Web roles that read every consortium but only aggregates."""


@dataclass(frozen=True)
class Reader:
    """Who reads the hub's data."""

    consortium_id: str | None
    """The reader's own consortium; ``None``: every consortium."""
    records: bool
    """May read record-level data (values, participant IDs); ``False``: aggregates only."""


def session_reader(role: str, consortium_id: str | None) -> Reader:
    """A logged-in person: an operator reads their consortium (``consortium_id``); the administrator
    everything; a researcher every consortium, aggregates only."""
    return Reader(consortium_id, records=role not in AGGREGATE_ONLY_ROLES)


def token_reader(token_consortium_id: str) -> Reader:
    """An API token: its consortium with records; a read-only token for every consortium: aggregates only."""
    if token_consortium_id == ALL_CONSORTIA:
        return Reader(None, records=False)
    return Reader(token_consortium_id, records=True)


def require_records(reader: Reader) -> None:
    """Fail closed: a record-level read by an aggregate-only reader is ``NotFound`` (404)."""
    if not reader.records:
        raise NotFound()


def export_scope(reader: Reader, consortium: str | None) -> str | None:
    """The consortium a FHIR export of individuals may cover (``None``: every consortium), or ``NotFound``."""
    require_records(reader)
    if reader.consortium_id is None:
        return consortium
    if consortium not in (None, reader.consortium_id):
        raise NotFound()
    return reader.consortium_id


def issue_of(row: BatchIssue) -> Issue:
    severity: Severity = "flag" if row.severity == "flag" else "info" if row.severity == "info" else "error"
    return Issue(
        severity,
        row.code,
        row.source,
        row.locator,
        row.record_type,
        row.field,
        row.value,
        row.rule,
        dict(row.params or {}),
    )


def issue_dict(issue: Issue) -> dict[str, str]:
    """The API's and the report's view of one issue: where, what, which rule, and the message in both languages."""
    return {
        "code": issue.code,
        "severity": issue.severity,
        "source": issue.source,
        "locator": issue.locator,
        "record_type": issue.record_type,
        "field": issue.field,
        "value": issue.value,
        "rule": issue.rule,
        "message_ja": issue.message("ja"),
        "message_en": issue.message("en"),
    }


def list_batches(
    db: Session, reader: Reader, *, limit: int, offset: int, only: str | None = None
) -> tuple[list[Batch], int]:
    """Batch summaries newest first (``only``: one consortium, for readers of all) and the total count.

    A summary (status, file names, counts per record type) is an aggregate: every reader in scope sees it."""
    conditions = []
    if reader.consortium_id is not None:
        conditions.append(Batch.consortium_id == reader.consortium_id)
    if only:
        conditions.append(Batch.consortium_id == only)
    total = db.scalar(select(func.count()).select_from(Batch).where(*conditions)) or 0
    rows = db.scalars(
        select(Batch).where(*conditions).order_by(Batch.received_at.desc(), Batch.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def get_batch(db: Session, reader: Reader, batch_id: str) -> Batch:
    """A batch (its summary) in the reader's scope, or ``NotFound``."""
    batch = db.get(Batch, batch_id) if len(batch_id) <= 36 else None
    if batch is None or (reader.consortium_id is not None and batch.consortium_id != reader.consortium_id):
        raise NotFound()
    return batch


def batch_issues(
    db: Session, reader: Reader, batch: Batch, *, limit: int, offset: int, severity: str | None = None
) -> tuple[list[Issue], int]:
    """A page of a batch's issues in the order they were found, and their total (record level: each issue
    carries the submitted value and its file line or JSON pointer)."""
    require_records(reader)
    batch_id = get_batch(db, reader, batch.id).id
    conditions = [BatchIssue.batch_id == batch_id]
    if severity:
        conditions.append(BatchIssue.severity == severity)
    total = db.scalar(select(func.count()).select_from(BatchIssue).where(*conditions)) or 0
    rows = db.scalars(select(BatchIssue).where(*conditions).order_by(BatchIssue.id).limit(limit).offset(offset))
    return [issue_of(row) for row in rows], int(total)


def issue_counts(db: Session, batch_id: str) -> dict[str, int]:
    """Issues of a batch per severity (``error``, ``flag``)."""
    rows = db.execute(
        select(BatchIssue.severity, func.count()).where(BatchIssue.batch_id == batch_id).group_by(BatchIssue.severity)
    )
    return {severity: int(count) for severity, count in rows}


@dataclass(frozen=True)
class IssueCount:
    """How many issues of one kind a batch has: no value, no locator, no participant."""

    severity: str
    code: str
    record_type: str
    field: str
    issues: int


def issue_summary(db: Session, reader: Reader, batch: Batch) -> list[IssueCount]:
    """A batch's issues counted per severity, code, record type and field (an aggregate, for every reader)."""
    batch_id = get_batch(db, reader, batch.id).id
    key = (BatchIssue.severity, BatchIssue.code, BatchIssue.record_type, BatchIssue.field)
    rows = db.execute(select(*key, func.count()).where(BatchIssue.batch_id == batch_id).group_by(*key).order_by(*key))
    return [IssueCount(sev, code, rtype or "", fld or "", int(n)) for sev, code, rtype, fld, n in rows]


def issues_report(db: Session, reader: Reader, batch_id: str) -> tuple[Batch, bytes]:
    """The batch's error report (CSV with every issue's value and locator): record level."""
    from datahealth.exchange.service import issues_csv  # service imports this module

    require_records(reader)
    batch = get_batch(db, reader, batch_id)
    return batch, issues_csv(db, batch.id)


def quality_report(db: Session, reader: Reader, consortium: str | None, today: date) -> quality.QualityReport:
    """The data-quality report of ``consortium`` (``None``: every consortium in scope). Aggregate-only
    readers get it without per-participant rows and with small groups suppressed."""
    if reader.consortium_id is not None and consortium not in (None, reader.consortium_id):
        raise NotFound()
    report = quality.quality_report(db, reader.consortium_id or consortium, today)
    return report if reader.records else quality.researcher_view(db, report)


# --- a participant's records -------------------------------------------------------------------------


def wire_value(kind: Kind, value: Any) -> str | None:
    """A stored value in the specification's text form (what the sender sent)."""
    if value is None:
        return None
    if kind == Kind.DATETIME:
        return f"{value:%Y%m%d%H%M%S}"
    if kind == Kind.TIMESTAMP:
        return f"{value:%Y%m%d%H%M%S}{value.microsecond // 1000:03d}"
    if kind == Kind.DATE:
        return f"{value:%Y%m%d}"
    if kind == Kind.DECIMAL:
        return format(Decimal(value).quantize(Decimal("0.1")), "f")
    return str(value)


@dataclass(frozen=True)
class ParticipantRecords:
    consortium_id: str
    participant_id: str
    records: dict[str, list[dict[str, str | None]]]


def participant_records(
    db: Session,
    reader: Reader,
    participant_id: str,
    *,
    record_types: Sequence[RecordType] = spec.RECORDS,
    start: date | None = None,
    end: date | None = None,
    only: str | None = None,
    limit: int = 10_000,
) -> list[ParticipantRecords]:
    """The stored records of a registered participant, by consortium (several for a reader of all whose
    participant ID exists in more than one consortium). Unknown or out-of-scope participants, and every
    participant for an aggregate-only reader: ``NotFound``."""
    require_records(reader)
    participant = table_for("participant")
    conditions = [participant.c.participant_id == participant_id]
    if reader.consortium_id is not None:
        conditions.append(participant.c.consortium_id == reader.consortium_id)
    if only:
        conditions.append(participant.c.consortium_id == only)
    owners = list(db.scalars(select(participant.c.consortium_id).where(*conditions).order_by("consortium_id")))
    if not owners:
        raise NotFound()
    result = []
    for owner in owners:
        records: dict[str, list[dict[str, str | None]]] = {}
        for record in record_types:
            table = table_for(record.name)
            where = [table.c.consortium_id == owner, table.c.participant_id == participant_id]
            if start is not None:
                where.append(table.c.observation_time >= datetime.combine(start, time()))
            if end is not None:
                where.append(table.c.observation_time < datetime.combine(end + timedelta(days=1), time()))
            columns = [table.c[field.name] for field in record.fields] + [table.c.flags]
            rows = db.execute(select(*columns).where(and_(*where)).order_by(table.c.observation_time).limit(limit))
            kinds = [field.kind for field in record.fields]
            records[record.name] = [
                {
                    **{
                        f.name: wire_value(kind, value)
                        for f, kind, value in zip(record.fields, kinds, row, strict=False)
                    },
                    "flags": row[-1] or "",
                }
                for row in rows
            ]
        result.append(ParticipantRecords(owner, participant_id, records))
    return result
