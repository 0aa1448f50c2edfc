"""Tenant-scoped reads for the API and the web pages: batches, their issues, a participant's records.

``consortium_id`` is the reader's own consortium, or ``None`` for a reader of every consortium
(researchers, the secretariat, read-all tokens). Anything outside the reader's scope raises
``NotFound``, exactly as if it did not exist, so one tenant never learns about another's objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from datahealth.errors import NotFound
from datahealth.exchange import spec
from datahealth.exchange.pipeline import Issue, Severity
from datahealth.exchange.spec_model import Kind, RecordType
from datahealth.exchange.tables import Batch, BatchIssue, table_for


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
    db: Session, consortium_id: str | None, *, limit: int, offset: int, only: str | None = None
) -> tuple[list[Batch], int]:
    """Batches newest first (``only``: one consortium, for readers of all) and the total count."""
    conditions = []
    if consortium_id is not None:
        conditions.append(Batch.consortium_id == consortium_id)
    if only:
        conditions.append(Batch.consortium_id == only)
    total = db.scalar(select(func.count()).select_from(Batch).where(*conditions)) or 0
    rows = db.scalars(
        select(Batch).where(*conditions).order_by(Batch.received_at.desc(), Batch.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def get_batch(db: Session, consortium_id: str | None, batch_id: str) -> Batch:
    batch = db.get(Batch, batch_id) if len(batch_id) <= 36 else None
    if batch is None or (consortium_id is not None and batch.consortium_id != consortium_id):
        raise NotFound()
    return batch


def batch_issues(
    db: Session, batch_id: str, *, limit: int, offset: int, severity: str | None = None
) -> tuple[list[Issue], int]:
    """A page of a batch's issues in the order they were found, and their total."""
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
    consortium_id: str | None,
    participant_id: str,
    *,
    record_types: Sequence[RecordType] = spec.RECORDS,
    start: date | None = None,
    end: date | None = None,
    only: str | None = None,
    limit: int = 10_000,
) -> list[ParticipantRecords]:
    """The stored records of a registered participant, by consortium (several for a reader of all whose
    participant ID exists in more than one consortium). Unknown or out-of-scope participants: ``NotFound``."""
    participant = table_for("participant")
    conditions = [participant.c.participant_id == participant_id]
    if consortium_id is not None:
        conditions.append(participant.c.consortium_id == consortium_id)
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
