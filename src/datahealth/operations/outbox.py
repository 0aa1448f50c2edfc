"""The mail outbox: queue in the caller's transaction, deliver later with retries and backoff.

A worker *claims* due rows in one short transaction (a single ``UPDATE … WHERE id IN (SELECT …)``;
on PostgreSQL the inner select takes ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait on
or share a row; on SQLite the statement runs under the database's write lock). Claimed rows carry a
random token and a lease; the worker sends them outside any transaction and then records the outcome.
A worker that dies leaves its rows ``sending`` until the lease expires, when they become due again.
A message may thus, in a crash between send and record, go out twice; it is never lost.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from datahealth.clock import Clock
from datahealth.config import Settings
from datahealth.db import transaction
from datahealth.operations import mailer
from datahealth.operations.tables import MailStatus, OutboxMessage

MAX_ERROR = 500


def enqueue(
    db: Session,
    *,
    kind: str,
    to_address: str,
    subject: str,
    body: str,
    now: datetime,
    survey_id: int | None = None,
    organisation_id: int | None = None,
) -> OutboxMessage:
    """Queue one e-mail in the caller's transaction (it exists exactly when the caller's change commits)."""
    message = OutboxMessage(
        kind=kind,
        to_address=to_address,
        subject=subject,
        body=body,
        survey_id=survey_id,
        organisation_id=organisation_id,
        status=MailStatus.QUEUED,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        last_error="",
    )
    db.add(message)
    return message


def enqueue_many(db: Session, rows: Sequence[dict[str, object]], now: datetime) -> list[tuple[int, int | None]]:
    """Queue many e-mails at once (one INSERT); each row has the keyword arguments of ``enqueue``.

    Returns (message id, organisation id) of each queued message.
    """
    if not rows:
        return []
    values = [
        {
            "status": MailStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "last_error": "",
            "survey_id": None,
            "organisation_id": None,
            **row,
        }
        for row in rows
    ]
    result = db.execute(insert(OutboxMessage).values(values).returning(OutboxMessage.id, OutboxMessage.organisation_id))
    return [(message_id, org_id) for message_id, org_id in result]


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: base × 2^(attempts−1), capped."""
    seconds = settings.mail_retry_base_seconds * 2 ** min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(seconds, settings.mail_retry_max_seconds))


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxMessage.status == MailStatus.QUEUED, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == MailStatus.SENDING, OutboxMessage.lease_until < now),
    )


def claim(db: Session, settings: Settings, now: datetime, limit: int) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for this worker (call in its own short transaction)."""
    token = secrets.token_hex(16)
    due = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    due = due.limit(limit).with_for_update(skip_locked=True)
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()), _due(now))
        .values(
            status=MailStatus.SENDING,
            claim_token=token,
            lease_until=now + timedelta(seconds=settings.mail_lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.claim_token == token).order_by(OutboxMessage.id)))


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    error: str = ""
    """The last transient error (e.g. the SMTP server is down), for the worker's output."""


Outcome = tuple[int, str, str]
"""(message id, new status, error text)."""


def deliver_due(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    *,
    send: Callable[[Settings], mailer.Connection] | None = None,
) -> DeliveryReport:
    """Claim one batch of due messages, send them over one SMTP session, record each outcome."""
    report = DeliveryReport()
    with transaction(factory) as db:
        batch = claim(db, settings, clock(), settings.mail_batch_size)
        messages = [(m.id, m.claim_token, m.to_address, m.subject, m.body) for m in batch]
    report.claimed = len(messages)
    if not messages:
        return report
    outcomes: list[Outcome] = []
    try:
        with mailer.connect(settings) as connection:
            for message_id, _token, to_address, subject, body in messages:
                try:
                    connection.send(mailer.build_message(settings, to_address, subject, body, clock()))
                    outcomes.append((message_id, MailStatus.SENT, ""))
                except mailer.PermanentMailError as exc:
                    outcomes.append((message_id, MailStatus.FAILED, str(exc)))
                except mailer.TransientMailError as exc:
                    outcomes.append((message_id, MailStatus.QUEUED, str(exc)))
                    break  # the server is in trouble: leave the rest for the next round
    except mailer.TransientMailError as exc:
        report.error = str(exc)
    done = {message_id for message_id, _, _ in outcomes}
    outcomes += [(m[0], MailStatus.QUEUED, report.error or "not attempted") for m in messages if m[0] not in done]
    tokens = {m[0]: m[1] for m in messages}
    _record(factory, settings, clock(), outcomes, tokens, report)
    return report


def _record(
    factory: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    outcomes: list[Outcome],
    tokens: dict[int, str | None],
    report: DeliveryReport,
) -> None:
    with transaction(factory) as db:
        for message_id, status, error in outcomes:
            message = db.get(OutboxMessage, message_id)
            if message is None or message.claim_token != tokens[message_id]:
                continue  # our lease ran out and another worker took it over
            message.claim_token = None
            message.lease_until = None
            message.attempts += 1
            message.last_error = error[:MAX_ERROR]
            if status == MailStatus.SENT:
                message.status, message.sent_at = MailStatus.SENT, now
                report.sent += 1
            elif status == MailStatus.FAILED:
                message.status = MailStatus.FAILED
                report.failed += 1
            else:
                message.status = MailStatus.QUEUED
                message.next_attempt_at = now + backoff(settings, message.attempts)
                report.deferred += 1
                if error and error != "not attempted":
                    report.error = error


def retry(db: Session, message_ids: Sequence[int], now: datetime) -> int:
    """Queue failed (or waiting) messages again for an immediate attempt; returns how many."""
    result = db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(list(message_ids)), OutboxMessage.status.in_([MailStatus.FAILED, MailStatus.QUEUED])
        )
        .values(status=MailStatus.QUEUED, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def status_counts(db: Session, survey_id: int | None = None) -> dict[str, int]:
    stmt = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if survey_id is not None:
        stmt = stmt.where(OutboxMessage.survey_id == survey_id)
    counts = {status.value: 0 for status in MailStatus}
    for status, count in db.execute(stmt):
        counts[status] = count
    return counts


def page(
    db: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    survey_id: int | None = None,
    address: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OutboxMessage], int]:
    """One page of the outbox, newest first, with the number of matching messages."""
    stmt = select(OutboxMessage)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if survey_id is not None:
        stmt = stmt.where(OutboxMessage.survey_id == survey_id)
    if address:
        stmt = stmt.where(OutboxMessage.to_address.contains(address.strip(), autoescape=True))
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
