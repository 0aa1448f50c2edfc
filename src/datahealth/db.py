"""Engine and session factory. SQLite file by default, PostgreSQL in production."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, Dialect, Engine, Table, TypeDecorator, create_engine, event, inspect, update
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from datahealth.config import Settings

PG_CONNECT_TIMEOUT_SECONDS = 5
PG_POOL_TIMEOUT_SECONDS = 10


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url()
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # The timeouts turn an unreachable server into a quick error (answered 503 by the web app) rather than a hang.
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=PG_POOL_TIMEOUT_SECONDS,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS},
    )
    _ping_idle_connections(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """Replace connections the server dropped (a restart) without restarting the app, like ``pool_pre_ping``,
    but ping only a connection that sat idle in the pool for more than a second.

    Under load a connection goes back to work within milliseconds, and a round trip per request is a tenth of a
    save's database work. A connection that breaks while in use is still handled: the failed statement is
    answered 503 and SQLAlchemy invalidates every connection of the pool opened before it.
    """

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(str(error)) from error  # the pool tries again with a new connection
        if not alive:
            raise DisconnectionError("the database did not answer the ping")

    event.listen(engine.pool, "checkin", checked_in)
    event.listen(engine.pool, "checkout", checked_out)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, for the hot paths that skip the ORM's unit of work."""
    return cast(Table, model.__table__)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_for_update(db: Session, row: Any) -> None:
    """Take the write lock on ``row`` and reload it, so a read-modify-write cannot lose a concurrent change.

    PostgreSQL: ``SELECT … FOR UPDATE``. SQLite locks the whole database for writing: a no-op ``UPDATE`` of
    the row starts the write transaction (pysqlite begins one only at the first write), then the row is read
    again inside it.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.refresh(row, with_for_update=True)
        return
    mapper = inspect(row).mapper
    table = mapper.local_table
    key = mapper.primary_key[0]
    db.execute(update(table).where(key == getattr(row, key.key)).values({key.name: key}))
    db.refresh(row)


class Base(DeclarativeBase):
    """Declarative base shared by every feature's tables."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores naive text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
