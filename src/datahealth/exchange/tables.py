"""Storage of the exchange hub. Registry and record tables are generated from the specification.

Each record type gets a table ``exch_<name>`` with one typed column per field (times as sent, i.e.
Japan local time without zone; decimals exact), a ``flags`` column (space-separated DH-W codes of
values stored but flagged as implausible), the batch that stored it, and a unique key on the type's
identity (the resend rule's "same participant, record type, observation time and device"). Replaced
versions go to ``exch_record_history``. Consortia are organisations of kind ``consortium`` whose
``code`` is the consortium ID.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from datahealth.db import Base, UtcDateTime, utcnow
from datahealth.exchange import spec
from datahealth.exchange.spec_model import Field, Kind, Need, RecordKind, RecordType

TABLE_PREFIX = "exch_"


def column_type(field: Field) -> TypeEngine[Any]:
    if field.kind in (Kind.DATETIME, Kind.TIMESTAMP):
        return DateTime()
    if field.kind == Kind.DATE:
        return Date()
    if field.kind == Kind.INTEGER:
        return Integer()
    if field.kind == Kind.DECIMAL:
        return Numeric(field.digits, field.scale)
    return String(field.digits)


def _spec_table(record: RecordType) -> Table:
    columns: list[Column[Any]] = [Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True)]
    for field in record.fields:
        columns.append(Column(field.name, column_type(field), nullable=field.need != Need.REQUIRED))
    if record.kind == RecordKind.RECORD:
        # No foreign key on batch_id and no separate (consortium, participant, time) index: the per-row
        # foreign-key check and a second index made bulk loads markedly slower (docs/benchmarks.md). The
        # store writes the Batch row before any record of it, batches are never deleted, and the unique
        # identity key starts with (consortium_id, participant_id, observation_time), so it serves those
        # lookups (a participant's records, the store's resend probe) itself.
        columns += [
            Column("flags", String(200), nullable=False, default=""),
            Column("batch_id", String(36), nullable=False),
            Column("stored_at", UtcDateTime(), nullable=False, default=utcnow),
        ]
    else:
        columns.append(Column("updated_at", UtcDateTime(), nullable=False, default=utcnow))
    return Table(
        TABLE_PREFIX + record.name,
        Base.metadata,
        *columns,
        UniqueConstraint(*record.identity, name=f"uq_{TABLE_PREFIX}{record.name}_identity"),
    )


# Registries other than the consortium list (consortia are organisations) and every record type.
SPEC_TABLES: dict[str, Table] = {
    record.name: _spec_table(record)
    for record in (*spec.REGISTRIES, *spec.RECORDS)
    if record.name != spec.CONSORTIUM.name
}


def table_for(record_type: str) -> Table:
    return SPEC_TABLES[record_type]


class Batch(Base):
    """One submission: a set of files or one JSON message, from the API, the CLI or the web."""

    __tablename__ = "exch_batches"
    __table_args__ = (UniqueConstraint("consortium_id", "idempotency_key", name="uq_exch_batches_idempotency"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    consortium_id: Mapped[str] = mapped_column(String(10), index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(10))
    """api, cli or web."""
    wire_format: Mapped[str] = mapped_column(String(10))
    """csv, json or fhir."""
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """File names (or ``message``) in the order received."""
    strict: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20))
    """accepted (nothing rejected), partial (some records rejected), rejected (nothing stored)."""
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Per record type: received, stored, replaced, unchanged, stale, conflict, rejected, flagged."""
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    submitted_by: Mapped[str] = mapped_column(String(100), default="")
    """Who sent it: ``token:<id>`` or ``user:<login>``; never a secret."""


class BatchIssue(Base):
    """One problem with one record (an error that rejected it, or a flag on a stored value)."""

    __tablename__ = "exch_batch_issues"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("exch_batches.id", ondelete="CASCADE"), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    """error or flag."""
    code: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(200))
    locator: Mapped[str] = mapped_column(String(200))
    """``line 12`` for CSV, a JSON pointer (``/activity/3/step``) for JSON."""
    record_type: Mapped[str] = mapped_column(String(40), default="")
    field: Mapped[str] = mapped_column(String(60), default="")
    value: Mapped[str] = mapped_column(String(200), default="")
    rule: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RecordHistory(Base):
    """A stored record as it was before a newer update_time replaced it."""

    __tablename__ = "exch_record_history"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    consortium_id: Mapped[str] = mapped_column(String(10))
    participant_id: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    batch_id: Mapped[str] = mapped_column(String(36))
    """The batch that had stored this version."""
    replaced_by: Mapped[str] = mapped_column(ForeignKey("exch_batches.id"))
    replaced_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_exch_record_history_record", "record_type", "record_id"),)


class ApiToken(Base):
    """A consortium's API token; only its SHA-256 is stored. Revocable, never shown twice."""

    __tablename__ = "exch_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consortium_id: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    """The first characters, shown in lists so a person can tell tokens apart."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
