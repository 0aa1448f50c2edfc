"""One batch as the web app receives it: ingest it and record the audit event, in one transaction.

The same function runs in a web worker's thread or, when ``DATAHEALTH_INGEST_PROCESSES`` is set, in an ingest
process (``exchange.ingest_pool``): so a job carries plain values only (no request, no clock, no session), and
everything the audit event needs is decided before the job starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from datahealth.audit import log as audit
from datahealth.db import transaction
from datahealth.errors import UserError
from datahealth.exchange.service import IngestResult, Sender, Upload, ingest

ACTION = "exchange.batch.ingest"


@dataclass(frozen=True)
class Actor:
    """Who sends, as the audit log names them (``token:<id>`` or a person), and from where."""

    actor: str
    role: str
    address: str
    organisation_id: int | None = None


@dataclass(frozen=True)
class IngestJob:
    sender: Sender
    uploads: Sequence[Upload]
    channel: str
    """``api`` or ``web``: recorded with the batch and in the audit event."""
    strict: bool
    idempotency_key: str | None
    now: datetime
    """The moment the request arrived: the batch's ``received_at`` and the audit event's time."""
    who: Actor


def run_job(sessions: sessionmaker[Session], job: IngestJob) -> IngestResult:
    """Ingest the batch and audit it in one transaction; a whole-request error is audited (in its own) and raised.

    Raises ``UserError`` (catalogued) for a batch refused as a whole, and the database's own errors when it
    cannot be reached (nothing of the batch is written then).
    """
    try:
        with transaction(sessions) as db:
            result = ingest(
                db,
                job.sender,
                job.uploads,
                channel=job.channel,
                strict=job.strict,
                idempotency_key=job.idempotency_key,
                now=job.now,
            )
            detail = result.audit_detail(job.channel, len(job.uploads))
            _audit(db, job, object_type="batch", object_id=result.batch_id, detail=detail)
            return result
    except UserError as error:
        audit_failure(sessions, job, error.code)
        raise


def audit_failure(sessions: sessionmaker[Session], job: IngestJob, code: str) -> None:
    """Record a batch that was refused or did not finish (``code``: the catalogued error), in its own transaction."""
    with transaction(sessions) as db:
        _audit(
            db,
            job,
            outcome="failure",
            object_type="consortium",
            object_id=job.sender.consortium_id or "",
            detail={"channel": job.channel, "error": code},
        )


def _audit(
    db: Session,
    job: IngestJob,
    *,
    object_type: str,
    object_id: str,
    detail: dict[str, object],
    outcome: audit.Outcome = "success",
) -> None:
    audit.record(
        db,
        actor=job.who.actor,
        role=job.who.role,
        organisation_id=job.who.organisation_id,
        action=ACTION,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        address=job.who.address,
        detail=detail,
        now=job.now,
    )
