"""Reading the audit log: filtered pages for the administrator and CSV export (times in JST)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from datahealth.audit.tables import AuditEvent
from datahealth.clock import JST
from datahealth.errors import Problem, UserError

OUTCOMES = ("success", "failure", "denied")
MAX_TEXT = 100


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    outcome: str = ""
    object_type: str = ""
    object_id: str = ""
    day_from: date | None = None
    day_to: date | None = None
    """Inclusive Japan-time days."""

    def checked(self) -> AuditFilter:
        if self.outcome and self.outcome not in OUTCOMES:
            raise UserError(Problem("DH-G400", {"field": "outcome"}))
        for name in ("actor", "action", "object_type", "object_id"):
            if len(getattr(self, name)) > MAX_TEXT:
                raise UserError(Problem("DH-G400", {"field": name}))
        return self


def _where(stmt: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.actor:
        stmt = stmt.where(AuditEvent.actor.contains(f.actor, autoescape=True))
    if f.action:
        stmt = stmt.where(AuditEvent.action.startswith(f.action, autoescape=True))
    if f.outcome:
        stmt = stmt.where(AuditEvent.outcome == f.outcome)
    if f.object_type:
        stmt = stmt.where(AuditEvent.object_type == f.object_type)
    if f.object_id:
        stmt = stmt.where(AuditEvent.object_id == f.object_id)
    if f.day_from:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(f.day_from, time(), JST))
    if f.day_to:
        stmt = stmt.where(AuditEvent.at < datetime.combine(f.day_to + timedelta(days=1), time(), JST))
    return stmt


def page(db: Session, f: AuditFilter, *, limit: int = 100, offset: int = 0) -> tuple[list[AuditEvent], int]:
    f = f.checked()
    stmt = _where(select(AuditEvent), f)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    found: list[AuditEvent] = list(db.scalars(stmt.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)))
    return found, total


COLUMNS = (
    "seq",
    "at_jst",
    "actor",
    "role",
    "organisation_id",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "address",
    "detail",
    "hash",
)


def rows(db: Session, f: AuditFilter) -> Iterator[list[str]]:
    stmt = _where(select(AuditEvent), f.checked()).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    for found in db.scalars(stmt):
        event: AuditEvent = found
        yield [
            str(event.seq),
            event.at.astimezone(JST).isoformat(timespec="seconds"),
            event.actor,
            event.role,
            "" if event.organisation_id is None else str(event.organisation_id),
            event.action,
            event.object_type,
            event.object_id,
            event.outcome,
            event.address,
            _detail_text(event.detail),
            event.hash,
        ]


def _detail_text(detail: dict[str, object]) -> str:
    return "; ".join(f"{key}={value}" for key, value in sorted(detail.items()))


def _safe(cell: str) -> str:
    return "'" + cell if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell


def to_csv(db: Session, f: AuditFilter) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows(db, f):
        writer.writerow([_safe(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
