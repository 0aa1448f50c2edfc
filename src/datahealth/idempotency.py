"""Idempotency keys: a request retried with the same key is applied at most once.

A survey autosave carries a fresh key (``Idempotency-Key`` header, set by app.js). If the network
drops after the server committed, the browser may send the same request again; without the key that
late copy could overwrite answers saved in between. The key is recorded in the same transaction as
the change, so "recorded" and "applied" cannot disagree. Keys older than ``RETENTION`` are pruned.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CTE, String, UniqueConstraint, bindparam, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from datahealth.db import Base, UtcDateTime, table_of
from datahealth.hot_sql import HotStatement

RETENTION = timedelta(days=2)
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "owner", "key", name="uq_idempotency_keys"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


_KEYS = table_of(IdempotencyKey)
# Built once: every autosave claims a key, and building the statement costs more than running it.
_CLAIM_POSTGRESQL = HotStatement(
    postgresql_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.id),
    column_keys=["scope", "owner", "key", "created_at"],
)
_CLAIM_SQLITE = sqlite_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.id)
_CLAIM_PREFIX = "claim_"


def claim_cte(name: str) -> CTE:
    """The PostgreSQL claim as a ``WITH`` part of another statement (one round trip for both): a row when this
    request claimed the key, none when it had been claimed; its values come from ``claim_params``."""
    columns = ("scope", "owner", "key", "created_at")
    values = {key: bindparam(_CLAIM_PREFIX + key, type_=_KEYS.c[key].type) for key in columns}
    return postgresql_insert(_KEYS).values(values).on_conflict_do_nothing().returning(_KEYS.c.id).cte(name)


def claim_params(scope: str, owner: str, key: str, now: datetime) -> dict[str, Any]:
    """The bound values of ``claim_cte``: the same key as ``claim`` records."""
    return {
        _CLAIM_PREFIX + "scope": scope,
        _CLAIM_PREFIX + "owner": owner[:120],
        _CLAIM_PREFIX + "key": key,
        _CLAIM_PREFIX + "created_at": now,
    }


def valid_key(key: str | None) -> str | None:
    """The key if well-formed; malformed keys are ignored (the request is then simply not deduplicated)."""
    return key if key and KEY_PATTERN.match(key) else None


def claim(db: Session, scope: str, owner: str, key: str, now: datetime) -> bool:
    """Record the key in the caller's transaction; False if this request was already applied.

    ``INSERT … ON CONFLICT DO NOTHING`` rather than a savepoint: on SQLite a savepoint opened before the
    transaction's first write is a transaction of its own, so the key would be committed at once, apart from
    the change it stands for (the crash test found exactly that: a key recorded, its save lost). A concurrent
    request with the same key waits for the first one's transaction and then sees the conflict.
    """
    values = {"scope": scope, "owner": owner[:120], "key": key, "created_at": now}
    if db.get_bind().dialect.name == "postgresql":
        return _CLAIM_POSTGRESQL.first(db, values) is not None
    return db.execute(_CLAIM_SQLITE, values).scalar() is not None


def prune(db: Session, now: datetime) -> int:
    result = db.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - RETENTION))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
