"""Hot statements: the few prebuilt Core statements every survey save runs, sent to PostgreSQL by the driver itself.

A save's database work is five short statements (session, idempotency key, locked read, update, audit event).
Through ``Session.execute`` each one costs ~160 µs of client CPU on this machine, of which the driver's own work
is ~70 µs: the rest is SQLAlchemy's execution context (parameter and result processing set-up, events, caches).
A :class:`HotStatement` compiles its statement once per dialect with SQLAlchemy, keeps the column types' own bind
and result processors, and runs it with the driver's cursor in the session's transaction: ~106 µs per statement,
~12 % less server CPU per save (docs/benchmarks.md, "Session 5"). What stays the same:

- the SQL text, the parameter and result conversions (the types' processors from SQLAlchemy);
- the transaction: the statement runs on the session's connection, after the session's autoflush;
- errors: a driver error is handed to SQLAlchemy's own handling, so it is raised as SQLAlchemy's exception
  (``OperationalError`` is answered 503 by the web app) and a lost connection invalidates the pool as usual.

What differs: SQLAlchemy's statement events (``before_cursor_execute``) do not see these statements (nothing in
the application listens to them; tests that count statements count at the driver). The error handling calls
SQLAlchemy's ``Connection._handle_dbapi_exception``, a private method: ``tests/test_hot_sql.py`` fails if an
upgrade changes it (a unique violation and a terminated backend go through it).

Only PostgreSQL takes the short path. On SQLite (one writer, the load target is PostgreSQL's) the statement runs
through SQLAlchemy's ``Connection.execute`` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    defaults: dict[str, Any]
    """Bind values fixed in the statement (literals), by bind name; ``None`` for the ones given at execution."""
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]
    """(bind name, the type's bind processor) for every bind whose type converts its value."""
    results: tuple[Callable[[Any], Any] | None, ...]
    """The result processor of each returned column (``None``: the driver's value is used as it is); empty when
    the statement returns no rows (``INSERT``/``UPDATE`` without ``RETURNING``)."""


class HotStatement:
    """A Core statement compiled once and run with the driver's cursor on PostgreSQL (see the module)."""

    def __init__(self, statement: Select[Any] | UpdateBase, column_keys: Sequence[str] | None = None) -> None:
        """``column_keys``: for ``INSERT``/``UPDATE`` whose values come at execution, the columns they set."""
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, db: Session, params: Mapping[str, Any]) -> list[Row]:
        """Run the statement in the session's transaction; its rows (empty when it returns none)."""
        db.flush()  # what Session.execute's autoflush does: pending ORM changes go first
        connection = db.connection()
        dialect = connection.dialect
        if dialect.name != "postgresql":
            result = connection.execute(self.statement, dict(params))
            return [tuple(row) for row in result] if result.returns_rows else []
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**compiled.defaults, **params}
        for name, process in compiled.binds:
            values[name] = process(values[name])
        raw = connection.connection.dbapi_connection
        if raw is None:  # cannot happen: the session's transaction holds a connection checked out of the pool
            raise RuntimeError("the session's connection is closed")
        cursor = raw.cursor()
        try:
            cursor.execute(compiled.sql, values)
            # Whether it returns rows is known from the statement: ``cursor.description`` builds column objects.
            fetched = cursor.fetchall() if compiled.results else []
        except dialect.loaded_dbapi.Error as error:
            # SQLAlchemy's own handling: wraps the error, invalidates a lost connection (and the pool's older ones).
            connection._handle_dbapi_exception(error, compiled.sql, values, cursor, None)
        finally:
            cursor.close()
        processors = compiled.results
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(value if process is None else process(value) for value, process in zip(row, processors, strict=True))
            for row in fetched
        ]

    def first(self, db: Session, params: Mapping[str, Any]) -> Row | None:
        found = self.rows(db, params)
        return found[0] if found else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("hot statements cannot have expanding (IN) parameters")
        if compiled.insert_prefetch or compiled.update_prefetch:  # Python-side column defaults: the caller's job
            missing = [column.key for column in [*compiled.insert_prefetch, *compiled.update_prefetch]]
            raise ValueError(f"hot statements need every column's value given: {missing}")
        binds: list[tuple[str, Callable[[Any], Any]]] = []
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.exported_columns
        )
        built = _Compiled(compiled.string, dict(compiled.params), tuple(binds), results)
        self._compiled[dialect.name] = built
        return built
