"""Write and verify the audit log.

Each event is written in the same transaction as the change it records, so an event exists exactly
when its change was committed. Appends are serialised on the single ``audit_head`` row (PostgreSQL row
lock; SQLite's write lock), which gives a gap-free sequence and a linear hash chain:
``hash = SHA-256(prev_hash | canonical JSON of the event)``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Insert, bindparam, insert, select, update
from sqlalchemy.orm import Session

from datahealth.audit.tables import AuditEvent, AuditHead, AuditPending
from datahealth.db import table_of
from datahealth.hot_sql import HotStatement

GENESIS = "0" * 64
Outcome = Literal["success", "failure", "denied"]
FORBIDDEN_DETAIL_KEYS = frozenset({"password", "token", "secret", "code", "answers", "value", "values"})


_HEAD = table_of(AuditHead)
_ADVANCE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_EVENT = insert(table_of(AuditEvent))


# PostgreSQL: the event goes to ``audit_pending`` with its canonical JSON up to ``seq``; a deferred constraint
# trigger (migration 0007) seals it at COMMIT: advances the head, computes the same SHA-256 link as ``chain_hash``
# (the canonical JSON has ``seq`` as its last key, so it is ``canonical_head`` + seq + ``}``) and moves it into
# ``audit_events``. The head's row lock is thus held only while the transaction commits, never across the
# client's work between statements (with many requests in flight waiting for the interpreter, that gap was what
# serialised every save). ``datahealth audit verify`` checks every event alike.
_PENDING = table_of(AuditPending)
_PENDING_COLUMNS = [column for column in _PENDING.columns if column.key != "id"]
_INSERT_PENDING = HotStatement(insert(_PENDING), column_keys=[column.key for column in _PENDING_COLUMNS])
_SEQ_LAST = ',"seq":0}'


def pending_row(columns: dict[str, Any]) -> dict[str, Any] | None:
    """The ``audit_pending`` row of an event to be sealed at COMMIT (PostgreSQL), by column; ``None`` if the
    canonical form is not as expected (the caller then appends it with ``append``, which takes the general path)."""
    canonical = _canonical(columns, 0)
    if not canonical.endswith(_SEQ_LAST):
        return None
    return {**columns, "canonical_head": canonical.removesuffix(_SEQ_LAST) + ',"seq":'}


def pending_insert(prefix: str) -> Insert:
    """``INSERT INTO audit_pending`` with its values bound as ``prefix`` + column: for a statement that carries an
    event along with its own change (a ``WITH … AS (UPDATE …)``: one round trip instead of two)."""
    return insert(_PENDING).values(
        {column.key: bindparam(prefix + column.key, type_=column.type) for column in _PENDING_COLUMNS}
    )


def _columns(event: AuditEvent) -> dict[str, Any]:
    """What an event says (everything but its place in the chain), by column."""
    return {
        "at": event.at,
        "actor": event.actor,
        "role": event.role,
        "organisation_id": event.organisation_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "address": event.address,
        "detail": event.detail,
    }


def _canonical(columns: dict[str, Any], seq: int) -> str:
    at: datetime = columns["at"]
    return json.dumps(
        {**columns, "seq": seq, "at": at.isoformat(timespec="microseconds")},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def _link(prev_hash: str, columns: dict[str, Any], seq: int) -> str:
    return hashlib.sha256(f"{prev_hash}|{_canonical(columns, seq)}".encode()).hexdigest()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return _link(prev_hash, _columns(event), event.seq)


def event_columns(
    *,
    actor: str,
    action: str,
    now: datetime,
    outcome: Outcome = "success",
    role: str = "",
    organisation_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    address: str = "",
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What an event says (everything but its place in the chain), by column; refuses secrets in ``detail``."""
    clean = dict(detail or {})
    leaked = FORBIDDEN_DETAIL_KEYS.intersection(clean)
    if leaked:
        raise ValueError(f"audit detail must not carry {sorted(leaked)}")
    return {
        "at": now,
        "actor": actor[:120],
        "role": role,
        "organisation_id": organisation_id,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id)[:100],
        "outcome": outcome,
        "address": address[:100],
        "detail": clean,
    }


def record(
    db: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    outcome: Outcome = "success",
    role: str = "",
    organisation_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    address: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event to the chain inside the caller's transaction (see ``append``)."""
    columns = event_columns(
        actor=actor,
        action=action,
        now=now,
        outcome=outcome,
        role=role,
        organisation_id=organisation_id,
        object_type=object_type,
        object_id=object_id,
        address=address,
        detail=detail,
    )
    append(db, columns)


def append(db: Session, columns: dict[str, Any]) -> None:
    """Append the event (``event_columns``) inside the caller's transaction.

    On PostgreSQL the event is sealed (``seq``, ``prev_hash``, ``hash``) when the transaction commits, and is in
    ``audit_events`` from then on; on SQLite at once. No ORM object is made: every request appends an event.
    """
    if db.get_bind().dialect.name == "postgresql":
        row = pending_row(columns)
        if row is not None:
            _INSERT_PENDING.rows(db, row)
            return  # its seq and hash are given at COMMIT
    # Prebuilt Core statements, not the unit of work: every request appends one event, so its cost counts.
    # One statement takes the lock and reads the new position (UPDATE … RETURNING).
    locked = db.execute(_ADVANCE_HEAD).first()
    if locked is None:
        db.execute(insert(_HEAD).values(id=1, seq=1, hash=GENESIS))
        seq, prev_hash = 1, GENESIS
    else:
        seq, prev_hash = int(locked[0]), str(locked[1])
    event_hash = _link(prev_hash, columns, seq)
    db.execute(_INSERT_EVENT, {**columns, "seq": seq, "prev_hash": prev_hash, "hash": event_hash})
    db.execute(_SET_HEAD_HASH, {"hash": event_hash, "prev_hash": prev_hash})


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str


def verify(db: Session, batch: int = 5000) -> Verification:
    """Recompute the chain from the first event; report the first broken link, gap or head mismatch."""
    previous, expected_seq, count = GENESIS, 1, 0
    for event in _ordered(db, batch):
        if event.seq != expected_seq:
            return Verification(False, count, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != previous or chain_hash(previous, event) != event.hash:
            return Verification(False, count, event.seq, f"event {event.seq} was altered")
        previous, expected_seq, count = event.hash, expected_seq + 1, count + 1
    head = db.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != previous):
        return Verification(False, count, count + 1, "events after the last one were removed")
    return Verification(True, count, None, "")


def _ordered(db: Session, batch: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def cli_actor() -> str:
    """``cli:<operating-system user>``: who ran a command-line action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"


def record_cli(
    db: Session,
    action: str,
    *,
    now: datetime,
    outcome: Outcome = "success",
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a command-line action: the OS user as actor, ``cli`` as role and origin (address)."""
    record(
        db,
        actor=cli_actor(),
        role="cli",
        action=action,
        now=now,
        outcome=outcome,
        object_type=object_type,
        object_id=object_id,
        address="cli",
        detail=detail,
    )
