"""Store checked records: the seed's update_time resend rule, registries upserted, all set-based.

For each record type the batch's valid rows are staged in a temporary table (PostgreSQL: ``COPY``
through psycopg; SQLite: ``executemany``), classified against the stored table with one SQL join
and applied with three statements:

============  ====================================================================  ==========
class         when (same identity = the record type's ``identity`` fields)           outcome
============  ====================================================================  ==========
new ``n``     no stored record with this identity                                    inserted
replaced      sent update_time newer than the stored one                            stored row updated in
``r``                                                                                place; the old version
                                                                                     to exch_record_history
unchanged     same update_time, same content                                         nothing (a resend)
``u``
conflict      same update_time, different content                                   DH-X202, stored kept
``c``
stale ``s``   sent update_time older than the stored one                            DH-X201, stored kept
============  ====================================================================  ==========

Registries (participant, lab, device, HbA1c method, activity recording time) are upserted on their
identity: a new row is inserted, a changed one replaces the stored row, an identical one is left
alone. The consortium list updates ``Organisation(kind="consortium")``. Who may send which registry
is decided by the caller (``service.ingest``); this module only writes, inside the caller's
transaction, and never commits.
"""

# ruff: noqa: S608 - the SQL here is built only from the specification's physical names and this module's
# constants (never from sent values, which are bound or copied as data); bandit's B608 is marked per statement
from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import DateTime, Integer, String, bindparam, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.exchange import spec
from datahealth.exchange.pipeline import FLAGS, LOCATOR, SOURCE, CheckedBatch, Issue
from datahealth.exchange.spec_model import Field, Kind, RecordKind, RecordType
from datahealth.exchange.tables import RecordHistory, table_for

STORE_ORDER: tuple[str, ...] = tuple(record.name for record in (*spec.REGISTRIES, *spec.RECORDS))
"""Registries before records, so that records may refer to registry rows sent in the same batch."""
STAGE_PREFIX = "_exch_stage_"
_COPY_SLICE = 50_000  # rows per COPY write (PostgreSQL) / executemany call (SQLite): keeps memory flat
NEW, REPLACED, UNCHANGED, STALE, CONFLICT = "n", "r", "u", "s", "c"


@dataclass
class StoreCounts:
    """What happened to one record type's valid rows."""

    stored: int = 0
    """New records (or registry rows) inserted."""
    replaced: int = 0
    """Stored records replaced by a newer update_time (registries: changed rows)."""
    unchanged: int = 0
    """Resent with the same update_time and content (registries: identical rows)."""
    stale: int = 0
    """Older update_time than the stored record (DH-X201): stored record kept."""
    conflict: int = 0
    """Same update_time, different content (DH-X202): stored record kept."""
    flagged: int = 0
    """Rows stored or replaced that carry a DH-W flag."""
    rejected: int = 0
    """Rows refused by the store itself (DH-X120: the same identity twice in one batch)."""

    def add(self, other: StoreCounts) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


def store_checked(
    db: Session, checked: CheckedBatch, batch_id: str, now: datetime
) -> tuple[dict[str, StoreCounts], list[Issue]]:
    """Write a checked batch's valid rows; returns counts per record type and the store's issues.

    The ``Batch`` row ``batch_id`` must exist (records refer to it). Only executes statements in the
    caller's transaction: the caller commits, or rolls back (a savepoint) for strict mode or failures.
    """
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    frames = {name: frame for name, frame in checked.frames.items() if name in STORE_ORDER and frame.height}
    dialect = db.get_bind().dialect
    if dialect.name == "postgresql":
        _lock(db, frames)
    counts: dict[str, StoreCounts] = {}
    issues: list[Issue] = []
    for name in sorted(frames, key=STORE_ORDER.index):
        record = spec.record_type(name)
        missing = [field.name for field in record.fields if field.name not in frames[name].columns]
        complete = frames[name].with_columns(pl.lit(None, dtype=pl.String).alias(column) for column in missing)
        frame, duplicates = _without_duplicates(record, complete)  # an absent field is stored as absent (NULL)
        issues += duplicates
        if record.name == spec.CONSORTIUM.name:
            result = _store_consortia(db, frame, now)
        elif record.kind == RecordKind.REGISTRY:
            result = _store_registry(db, dialect, record, frame, stamp)
        else:
            result, problems = _store_records(db, dialect, record, frame, batch_id, stamp)
            issues += problems
        result.rejected += len(duplicates)
        counts[name] = result
    return counts, issues


# --- helpers shared by records and registries --------------------------------------------------------


def _lock(db: Session, frames: dict[str, pl.DataFrame]) -> None:
    """Serialise concurrent batches that touch the same consortium (PostgreSQL advisory locks).

    Two batches writing the same identity at once would otherwise both classify it as new and the
    second would fail on the unique key; the locks are held until the transaction ends.
    """
    keys: set[str] = set()
    for name, frame in frames.items():
        if "consortium_id" in frame.columns and name != spec.CONSORTIUM.name:
            keys.update(f"exch:{value}" for value in frame.get_column("consortium_id").unique().to_list())
        else:
            keys.add("exch:shared-registries")
    for key in sorted(keys):
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


def _without_duplicates(record: RecordType, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[Issue]]:
    """Rows after the first with the same identity are refused (DH-X120); the checker normally does this."""
    identity = list(record.identity)
    duplicated = frame.select(pl.struct(identity).is_first_distinct().not_()).to_series()
    if not duplicated.any():
        return frame, []
    numbered = frame.with_row_index("_row")
    first = numbered.group_by(identity, maintain_order=True).agg(
        pl.col(SOURCE).first().alias("_first_source"), pl.col(LOCATOR).first().alias("_first_locator")
    )
    dropped = numbered.filter(duplicated).join(first, on=identity, how="left", nulls_equal=True)
    rule = "+".join(identity)
    issues = [
        Issue(
            "error",
            "DH-X120",
            row[SOURCE],
            row[LOCATOR],
            record.name,
            value=f"{row['_first_source']} {row['_first_locator']}",
            rule=rule,
        )
        for row in dropped.select(SOURCE, LOCATOR, "_first_source", "_first_locator").iter_rows(named=True)
    ]
    return frame.filter(duplicated.not_()), issues


def _stage(
    db: Session, dialect: Dialect, record: RecordType, frame: pl.DataFrame, *, with_flags: bool
) -> tuple[str, list[Field]]:
    """Create the temporary staging table for ``record`` and load ``frame`` into it (set-based)."""
    stage = STAGE_PREFIX + record.name
    table = table_for(record.name)
    columns = [field for field in record.fields if field.name in frame.columns]
    db.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    ddl = ["_n INTEGER NOT NULL"]
    ddl += [f"{field.name} {table.c[field.name].type.compile(dialect=dialect)}" for field in columns]
    if with_flags:
        ddl.append(f"flags {String(200).compile(dialect=dialect)}")
    ddl += [
        f"_class CHAR(1) NOT NULL DEFAULT '{NEW}'",
        "_target BIGINT",
        f"_stored_update {DateTime().compile(dialect=dialect)}",
    ]
    db.execute(text(f"CREATE TEMPORARY TABLE {stage} ({', '.join(ddl)})"))
    prepared = _prepared(frame, columns, dialect.name, with_flags=with_flags)
    _load(db, dialect, stage, prepared.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_n")))
    return stage, columns


def _load(db: Session, dialect: Dialect, table: str, frame: pl.DataFrame) -> None:
    """Bulk-load ``frame`` (columns named as the table's) into ``table``: COPY on PostgreSQL, executemany on SQLite."""
    names = ", ".join(frame.columns)
    raw: Any = db.connection().connection.driver_connection
    if dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
            for chunk in _slices(frame):
                buffer = io.BytesIO()
                chunk.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.f")
                copy.write(buffer.getvalue())
        return
    cursor = raw.cursor()
    try:
        placeholders = ", ".join("?" for _ in frame.columns)
        for chunk in _slices(frame):
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", chunk.rows())  # nosec B608
    finally:
        cursor.close()


def _slices(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    for offset in range(0, frame.height, _COPY_SLICE):
        yield frame.slice(offset, _COPY_SLICE)


def _driver_time(column: pl.Expr, dialect: str) -> pl.Expr:
    column = column.cast(pl.Datetime("us"))
    if dialect == "sqlite":  # SQLAlchemy's SQLite DATETIME text form, so stored rows compare equal
        return column.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
    return column


def _prepared(frame: pl.DataFrame, columns: Sequence[Field], dialect: str, *, with_flags: bool) -> pl.DataFrame:
    """The fields in the driver's form (and ``flags``), named as the table's columns."""
    exprs: list[pl.Expr] = []
    for field in columns:
        column = pl.col(field.name)
        if field.kind in (Kind.DATETIME, Kind.TIMESTAMP):
            column = _driver_time(column, dialect)
        elif field.kind == Kind.DATE and dialect == "sqlite":
            column = column.dt.strftime("%Y-%m-%d")
        elif field.kind == Kind.DECIMAL and dialect == "sqlite":
            column = column.cast(pl.Float64)  # what SQLAlchemy binds for Numeric on SQLite
        exprs.append(column.alias(field.name))
    if with_flags:
        flags = pl.col(FLAGS).fill_null("") if FLAGS in frame.columns else pl.lit("")
        exprs.append(flags.alias("flags"))
    return frame.select(exprs)


def _same(dialect: str, left: str, right: str) -> str:
    """Null-safe equality."""
    return f"{left} IS {right}" if dialect == "sqlite" else f"{left} IS NOT DISTINCT FROM {right}"


def _match(record: RecordType, stored: str, staged: str) -> str:
    return " AND ".join(f"{stored}.{name} = {staged}.{name}" for name in record.identity)


def _class_counts(db: Session, stage: str, *, with_flags: bool) -> dict[str, tuple[int, int]]:
    flagged = "SUM(CASE WHEN flags <> '' THEN 1 ELSE 0 END)" if with_flags else "0"
    rows = db.execute(text(f"SELECT _class, COUNT(*), {flagged} FROM {stage} GROUP BY _class"))  # nosec B608
    return {cls: (int(count), int(flags or 0)) for cls, count, flags in rows}


def _typed(sql: str, batch_id: str | None = None, stamp: datetime | None = None) -> TextClause:
    clause = text(sql)
    if batch_id is not None:
        clause = clause.bindparams(bindparam("batch", batch_id, type_=String()))
    if stamp is not None:
        clause = clause.bindparams(bindparam("now", stamp, type_=DateTime()))
    return clause


# --- records ---------------------------------------------------------------------------------------------


def _store_records(
    db: Session, dialect: Dialect, record: RecordType, frame: pl.DataFrame, batch_id: str, stamp: datetime
) -> tuple[StoreCounts, list[Issue]]:
    if not _any_stored(db, dialect, record, frame):
        # Nothing stored for these participants in these periods, so every row is new: load them straight
        # into the table (one COPY), skipping the staging table and the classifying join.
        _insert_new(db, dialect, record, frame, batch_id, stamp)
        flagged = frame.select((pl.col(FLAGS).fill_null("") != "").sum()).item() if FLAGS in frame.columns else 0
        return StoreCounts(stored=frame.height, flagged=int(flagged)), []
    stage, columns = _stage(db, dialect, record, frame, with_flags=True)
    target = table_for(record.name).name
    names = [field.name for field in columns]
    content = " AND ".join(_same(dialect.name, f"s.{name}", f"t.{name}") for name in names)
    # 1. classify every staged row against the stored one with the same identity (one join)
    db.execute(
        text(
            f"UPDATE {stage} AS s SET _target = t.id, _stored_update = t.update_time, _class = CASE "  # nosec B608
            f"WHEN s.update_time > t.update_time THEN '{REPLACED}' "
            f"WHEN s.update_time < t.update_time THEN '{STALE}' "
            f"WHEN {content} THEN '{UNCHANGED}' ELSE '{CONFLICT}' END "
            f"FROM {target} AS t WHERE {_match(record, 't', 's')}"
        )
    )
    classes = _class_counts(db, stage, with_flags=True)
    counts = StoreCounts(
        stored=classes.get(NEW, (0, 0))[0],
        replaced=classes.get(REPLACED, (0, 0))[0],
        unchanged=classes.get(UNCHANGED, (0, 0))[0],
        stale=classes.get(STALE, (0, 0))[0],
        conflict=classes.get(CONFLICT, (0, 0))[0],
        flagged=classes.get(NEW, (0, 0))[1] + classes.get(REPLACED, (0, 0))[1],
    )
    issues = _resend_issues(db, record, stage, frame) if counts.stale or counts.conflict else []
    if counts.replaced:
        # 2. the versions being replaced go to history, as sent (wire strings) plus their flags
        history = RecordHistory.__tablename__
        payload = _payload_sql(dialect.name, record, columns, "t")
        db.execute(
            _typed(
                f"INSERT INTO {history} (record_type, record_id, consortium_id, participant_id, payload, batch_id, "  # nosec B608
                f"replaced_by, replaced_at) SELECT '{record.name}', t.id, t.consortium_id, t.participant_id, "
                f"{payload}, t.batch_id, :batch, :now FROM {target} AS t JOIN {stage} AS s ON t.id = s._target "
                f"WHERE s._class = '{REPLACED}'",
                batch_id,
                stamp,
            )
        )
        # 3. replace in place (the record keeps its id)
        assignments = ", ".join(f"{name} = s.{name}" for name in names)
        db.execute(
            _typed(
                f"UPDATE {target} AS t SET {assignments}, flags = s.flags, batch_id = :batch, stored_at = :now "  # nosec B608
                f"FROM {stage} AS s WHERE t.id = s._target AND s._class = '{REPLACED}'",
                batch_id,
                stamp,
            )
        )
    if counts.stored:
        # 4. load the new records in the order they were sent (a bulk load is faster than INSERT … SELECT)
        new_rows = db.scalars(text(f"SELECT _n FROM {stage} WHERE _class = '{NEW}' ORDER BY _n")).all()  # nosec B608
        _insert_new(db, dialect, record, frame[[int(n) for n in new_rows]], batch_id, stamp)
    db.execute(text(f"DROP TABLE {stage}"))
    return counts, issues


def _any_stored(db: Session, dialect: Dialect, record: RecordType, frame: pl.DataFrame) -> bool:
    """Whether a stored record may share an identity with a row of ``frame``.

    Every record type's identity starts with consortium, participant and observation time, so one
    range probe per participant on the ``(consortium_id, participant_id, observation_time)`` index
    answers it: no stored record of a participant between the earliest and the latest time sent
    means no row can be a resend.
    """
    assert record.identity[:3] == ("consortium_id", "participant_id", "observation_time")  # noqa: S101 - spec shape  # SQL from spec names only (see the top)  # nosec B101
    probe = STAGE_PREFIX + "probe"
    ranges = frame.group_by("consortium_id", "participant_id").agg(
        _driver_time(pl.col("observation_time").min(), dialect.name).alias("first_time"),
        _driver_time(pl.col("observation_time").max(), dialect.name).alias("last_time"),
    )
    time_type = DateTime().compile(dialect=dialect)
    db.execute(text(f"DROP TABLE IF EXISTS {probe}"))
    db.execute(
        text(
            f"CREATE TEMPORARY TABLE {probe} (consortium_id VARCHAR(10), participant_id VARCHAR(20), "
            f"first_time {time_type}, last_time {time_type})"
        )
    )
    _load(db, dialect, probe, ranges)
    target = table_for(record.name).name
    found = db.scalar(
        text(
            f"SELECT 1 FROM {probe} AS p WHERE EXISTS (SELECT 1 FROM {target} AS t WHERE t.consortium_id = "  # nosec B608
            "p.consortium_id AND t.participant_id = p.participant_id AND t.observation_time >= p.first_time AND "
            "t.observation_time <= p.last_time) LIMIT 1"
        )
    )
    db.execute(text(f"DROP TABLE {probe}"))
    return found is not None


def _insert_new(
    db: Session, dialect: Dialect, record: RecordType, frame: pl.DataFrame, batch_id: str, stamp: datetime
) -> None:
    columns = [field for field in record.fields if field.name in frame.columns]
    rows = _prepared(frame, columns, dialect.name, with_flags=True).with_columns(
        pl.lit(batch_id).alias("batch_id"),
        _driver_time(pl.lit(stamp), dialect.name).alias("stored_at"),
    )
    _load(db, dialect, table_for(record.name).name, rows)


def wire_time(value: datetime, kind: Kind) -> str:
    """A datetime in the specification's wire form (yyyyMMddHHmmss, or …SSS for timestamps)."""
    text_ = value.strftime("%Y%m%d%H%M%S")
    return text_ + f"{value.microsecond // 1000:03d}" if kind == Kind.TIMESTAMP else text_


def _resend_issues(db: Session, record: RecordType, stage: str, frame: pl.DataFrame) -> list[Issue]:
    """DH-X201 (stale) and DH-X202 (conflict) for the rows whose stored record was kept."""
    rows = db.execute(
        text(
            f"SELECT _n, _class, _stored_update FROM {stage} WHERE _class IN ('{STALE}', '{CONFLICT}') ORDER BY _n"  # nosec B608
        ).columns(_n=Integer(), _class=String(), _stored_update=DateTime())
    ).all()
    positions = [int(row[0]) for row in rows]
    sent = frame.select(SOURCE, LOCATOR, "update_time")[positions]
    by_row = dict(zip(positions, sent.iter_rows(), strict=True))
    issues: list[Issue] = []
    for position, cls, stored in rows:
        source, locator, update_time = by_row[position]
        issues.append(
            Issue(
                "error",
                "DH-X201" if cls == STALE else "DH-X202",
                source,
                locator,
                record.name,
                field="update_time",
                value=wire_time(update_time, Kind.TIMESTAMP),
                rule=wire_time(stored, Kind.TIMESTAMP),
            )
        )
    return issues


def _payload_sql(dialect: str, record: RecordType, columns: Sequence[Field], alias: str) -> str:
    """A JSON object of the stored row in wire form (what the sender had sent) plus its flags."""
    pairs = [f"'{field.name}', {_wire_sql(dialect, field, f'{alias}.{field.name}')}" for field in columns]
    pairs.append(f"'flags', {alias}.flags")
    function = "json_object" if dialect == "sqlite" else "json_build_object"
    return f"{function}({', '.join(pairs)})"


def _wire_sql(dialect: str, field: Field, column: str) -> str:
    sqlite = dialect == "sqlite"
    if field.kind == Kind.DATETIME:
        return f"strftime('%Y%m%d%H%M%S', {column})" if sqlite else f"to_char({column}, 'YYYYMMDDHH24MISS')"
    if field.kind == Kind.TIMESTAMP:
        if sqlite:
            return f"strftime('%Y%m%d%H%M%S', {column}) || substr({column}, 21, 3)"
        return f"to_char({column}, 'YYYYMMDDHH24MISSMS')"
    if field.kind == Kind.DATE:
        return f"strftime('%Y%m%d', {column})" if sqlite else f"to_char({column}, 'YYYYMMDD')"
    if field.kind == Kind.DECIMAL:
        if sqlite:  # SQLite keeps 70.0 as the integer 70: print the one decimal place the spec has
            return f"CASE WHEN {column} IS NULL THEN NULL ELSE printf('%.{field.scale}f', {column}) END"
        return f"CAST({column} AS TEXT)"
    if field.kind == Kind.INTEGER:
        return f"CAST({column} AS TEXT)"
    return column


# --- registries ------------------------------------------------------------------------------------------


def _store_registry(
    db: Session, dialect: Dialect, record: RecordType, frame: pl.DataFrame, stamp: datetime
) -> StoreCounts:
    """Upsert on identity: new rows inserted, changed rows replaced, identical rows left alone."""
    stage, columns = _stage(db, dialect, record, frame, with_flags=False)
    target = table_for(record.name).name
    names = [field.name for field in columns]
    content = " AND ".join(_same(dialect.name, f"s.{name}", f"t.{name}") for name in names)
    db.execute(
        text(
            f"UPDATE {stage} AS s SET _target = t.id, _class = CASE WHEN {content} THEN '{UNCHANGED}' "  # nosec B608
            f"ELSE '{REPLACED}' END FROM {target} AS t WHERE {_match(record, 't', 's')}"
        )
    )
    classes = _class_counts(db, stage, with_flags=False)
    counts = StoreCounts(
        stored=classes.get(NEW, (0, 0))[0],
        replaced=classes.get(REPLACED, (0, 0))[0],
        unchanged=classes.get(UNCHANGED, (0, 0))[0],
    )
    if counts.replaced:
        assignments = ", ".join(f"{name} = s.{name}" for name in names)
        db.execute(
            _typed(
                f"UPDATE {target} AS t SET {assignments}, updated_at = :now FROM {stage} AS s "  # nosec B608
                f"WHERE t.id = s._target AND s._class = '{REPLACED}'",
                stamp=stamp,
            )
        )
    if counts.stored:
        listed = ", ".join(names)
        db.execute(
            _typed(
                f"INSERT INTO {target} ({listed}, updated_at) SELECT {listed}, :now FROM {stage} "  # nosec B608
                f"WHERE _class = '{NEW}' ORDER BY _n",
                stamp=stamp,
            )
        )
    db.execute(text(f"DROP TABLE {stage}"))
    return counts


def _store_consortia(db: Session, frame: pl.DataFrame, now: datetime) -> StoreCounts:
    """The consortium list: ``Organisation(kind="consortium", code=consortium_id, name=consortium_name)``."""
    sent: dict[str, str] = dict(frame.select("consortium_id", "consortium_name").iter_rows())
    existing = {
        org.code: org
        for org in db.scalars(
            select(Organisation).where(Organisation.kind == OrgKind.CONSORTIUM, Organisation.code.in_(list(sent)))
        )
    }
    counts = StoreCounts()
    for code, name in sent.items():
        org = existing.get(code)
        if org is None:
            db.add(Organisation(kind=OrgKind.CONSORTIUM.value, code=code, name=name, created_at=now))
            counts.stored += 1
        elif org.name != name:
            org.name = name
            counts.replaced += 1
        else:
            counts.unchanged += 1
    db.flush()
    return counts


def stored_payload(row: dict[str, Any], record: RecordType) -> dict[str, str | None]:
    """A stored row (as read through SQLAlchemy) in wire form, like the history payloads (for tests and exports)."""
    payload: dict[str, str | None] = {}
    for field in record.fields:
        value = row.get(field.name)
        if value is None:
            payload[field.name] = None
        elif field.kind in (Kind.DATETIME, Kind.TIMESTAMP):
            payload[field.name] = wire_time(value, field.kind)
        elif field.kind == Kind.DATE:
            payload[field.name] = value.strftime("%Y%m%d")
        elif field.kind == Kind.DECIMAL:
            payload[field.name] = f"{value:.{field.scale}f}"
        else:
            payload[field.name] = str(value)
    return payload
