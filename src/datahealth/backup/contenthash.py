"""Per-table row counts and content hashes, computed the same way on SQLite and PostgreSQL.

A table's hash is the SHA-256 of::

    datahealth-rowhash/1 <table>\\n
    ["col_a","col_b",…]\\n          (column names, sorted)
    [value_a,value_b,…]\\n          (one line per row, in primary-key order)

Rows are read in primary-key order with byte-wise collation for text keys (``COLLATE "C"`` on PostgreSQL,
SQLite's default ``BINARY``), so both engines walk the rows in the same order; a table without a primary
key has its lines sorted instead. Values are normalised before encoding as JSON (UTF-8, sorted keys):
aware datetimes become ISO 8601 in UTC, naive ones ISO 8601 as stored, dates and times ISO 8601, decimals
their shortest exact text (``65.50`` and ``65.5`` are the same number), JSON documents their parsed value,
bytes hex. Column types come from the application's models when the table and column are known, from
reflection otherwise, so a database at an older schema revision is hashed too. Only counts and hashes
leave this module, never values.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, collate, func, inspect, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import String, TypeEngine

import datahealth.tables  # noqa: F401  (registers every table, so model types are known)
from datahealth.db import Base

HASH_METHOD = "datahealth-rowhash/1"
_BATCH = 2000


@dataclass(frozen=True)
class TableDigest:
    rows: int
    sha256: str


def normalise(value: Any) -> Any:
    """A JSON-encodable value that is equal on both engines for equal data."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return normalise(value.value)
    if isinstance(value, dict):
        return {str(key): normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(item) for item in value]
    return str(value)


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def row_line(values: Iterable[Any]) -> bytes:
    return (
        json.dumps([normalise(value) for value in values], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        + "\n"
    ).encode("utf-8")


def _model_types() -> dict[str, dict[str, TypeEngine[Any]]]:
    return {table.name: {col.name: col.type for col in table.columns} for table in Base.metadata.tables.values()}


def table_names(connection: Connection) -> list[str]:
    return sorted(inspect(connection).get_table_names())


def database_digests(
    connection: Connection, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, TableDigest]:
    """Row count and content hash of every table in the connection's default schema.

    On PostgreSQL call it inside the transaction whose snapshot the dump uses, so both see the same rows.
    """
    names = table_names(connection)
    models = _model_types()
    result: dict[str, TableDigest] = {}
    for index, name in enumerate(names):
        if progress is not None:
            progress(name, index, len(names))
        result[name] = table_digest(connection, name, models.get(name, {}))
    if progress is not None:
        progress("", len(names), len(names))
    return result


def table_digest(connection: Connection, name: str, model_types: dict[str, TypeEngine[Any]]) -> TableDigest:
    inspector = inspect(connection)
    reflected = inspector.get_columns(name)
    types = {col["name"]: model_types.get(col["name"], col["type"]) for col in reflected}
    names = sorted(types)
    table = sa_table(name, *(sa_column(col, types[col]) for col in names))
    primary_key = inspector.get_pk_constraint(name).get("constrained_columns") or []
    digest = hashlib.sha256(f"{HASH_METHOD} {name}\n".encode())
    digest.update((json.dumps(names, ensure_ascii=False) + "\n").encode("utf-8"))
    rows = 0
    statement = select(*(table.c[col] for col in names))
    if primary_key:
        statement = statement.order_by(*(_ordering(connection, table.c[col], types[col]) for col in primary_key))
        stream = connection.execution_options(yield_per=_BATCH).execute(statement)
        for row in stream:
            digest.update(row_line(row))
            rows += 1
    else:
        lines = sorted(row_line(row) for row in connection.execute(statement))
        for line in lines:
            digest.update(line)
        rows = len(lines)
    return TableDigest(rows=rows, sha256=digest.hexdigest())


def _ordering(connection: Connection, column: ColumnElement[Any], type_: TypeEngine[Any]) -> ColumnElement[Any]:
    """Byte-wise order for text keys on both engines; everything else orders the same way already."""
    if isinstance(type_, String) and connection.dialect.name == "postgresql":
        return collate(column, "C")
    return column


def has_rows(connection: Connection) -> int:
    """How many rows the database holds outside ``alembic_version`` (0 for an empty or new database)."""
    total = 0
    for name in table_names(connection):
        if name == "alembic_version":
            continue
        table = sa_table(name)
        total += connection.execute(select(func.count()).select_from(table)).scalar_one()
    return total


def compare(
    expected: dict[str, TableDigest], actual: dict[str, TableDigest]
) -> list[tuple[str, TableDigest | None, TableDigest | None]]:
    """Every table of either side with its expected and actual digest (``None`` where one side lacks it)."""
    return [(name, expected.get(name), actual.get(name)) for name in sorted(set(expected) | set(actual))]
