"""The audit log (guideline 6.0 システム運用編 17): append-only, hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from datahealth.db import Base, UtcDateTime


class AuditEvent(Base):
    """One thing that happened: who, what, which object, when (UTC), from where, with what outcome.

    ``detail`` never holds secrets or health values (answers, measurements): only identifiers, counts
    and codes. Rows are never updated or deleted (database triggers refuse it); ``hash`` chains each
    row to the previous one, so ``datahealth audit verify`` detects any change, gap or deletion.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    """``user:<login id>``, ``token:<id>``, ``cli`` or ``anonymous``."""
    role: Mapped[str] = mapped_column(String(20), default="")
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(100), default="")
    outcome: Mapped[str] = mapped_column(String(10))
    """success, failure or denied."""
    address: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head: one row, locked by every append so that appends are serialised."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    """The hash before the last append (PostgreSQL's one-statement append returns it for the event row)."""


class AuditPending(Base):
    """An audit event waiting for its transaction's commit (PostgreSQL only; always empty outside a transaction).

    A deferred constraint trigger (migration 0007, ``audit_seal``) seals each row at COMMIT: it advances
    ``audit_head``, computes the SHA-256 link from ``canonical_head`` (the event's canonical JSON up to its
    ``seq``) and moves the event into ``audit_events``. The chain's lock is thus held only while the transaction
    commits.
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    canonical_head: Mapped[str] = mapped_column(Text)
