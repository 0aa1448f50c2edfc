"""From the operational store to the analytics engine: an incremental Parquet snapshot read by DuckDB.

DuckDB cannot read SQLite or PostgreSQL here (its scanner extensions cannot be downloaded), and row-by-row
Python over 18 M records is far too slow, so the hub's data reaches DuckDB as Parquet files::

    <dir>/manifest.json                       batches already exported, parts per record type
    <dir>/records/<type>/part-000001.parquet  the records stored by the batches of one export run
    <dir>/registry/<name>.parquet             participant and device registries (small; rewritten each run)

* **Incremental by batch.** Every record carries the batch that stored (or last replaced) it. A run exports
  the records of the batches it has not exported before — each batch is one committed transaction, so a
  batch is either wholly visible or not at all, and a batch committed after a run is simply picked up by
  the next one (a time watermark could skip a transaction that started earlier but committed later).
* **Replacements.** A resend with a newer update_time replaces a stored record in place (same ``id``, new
  ``batch_id``), so its new version lands in a later part. Readers keep, per ``id``, the row of the highest
  part (``_seq``). The manifest counts replacements; while there are none DuckDB skips that window.
* **Atomic.** Parts and the manifest are written to a temporary name and renamed; the manifest last. A run
  that dies leaves the previous manifest, and the next run re-exports the same batches into the same part
  name.
* Records are never deleted by the hub, so the snapshot never has to delete. ``rebuild=True`` starts over.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from sqlalchemy import Float, cast, select
from sqlalchemy.orm import Session

from datahealth.errors import Problem, UserError
from datahealth.exchange.tables import Batch, table_for

MANIFEST = "manifest.json"
FETCH_ROWS = 100_000
_IN_CHUNK = 500
RECORD_COLUMNS: dict[str, dict[str, Any]] = {
    "activity": {
        "id": pl.Int64,
        "consortium_id": pl.String,
        "participant_id": pl.String,
        "observation_time": pl.Datetime("us"),
        "step": pl.Int64,
        "model_manufacturer_code": pl.String,
        "model_number": pl.String,
        "batch_id": pl.String,
    },
    "hba1c": {
        "id": pl.Int64,
        "consortium_id": pl.String,
        "participant_id": pl.String,
        "observation_time": pl.Datetime("us"),
        "hba1c": pl.Float64,
        "lab_id": pl.String,
        "batch_id": pl.String,
    },
}
"""What the study analyses need of each record type (decimals as doubles)."""
REGISTRY_COLUMNS: dict[str, dict[str, Any]] = {
    "participant": {
        "consortium_id": pl.String,
        "participant_id": pl.String,
        "sex_code": pl.String,
        "medication_code": pl.String,
        "commute_code": pl.String,
        "wearing_position_code": pl.String,
        "participation_start_date": pl.Date,
        "participation_end_date": pl.Date,
    },
    "device": {
        "model_manufacturer_code": pl.String,
        "model_number": pl.String,
        "device_name": pl.String,
        "device_category_code": pl.String,
    },
}
Progress = Callable[[int], None]


@dataclass
class SnapshotRun:
    new_batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _manifest_path(directory: Path) -> Path:
    return directory / MANIFEST


def read_manifest(directory: Path) -> dict[str, Any]:
    path = _manifest_path(directory)
    if not path.exists():
        return {"version": 1, "batches": [], "parts": {}, "replaced": {}, "updated_at": None}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise UserError(Problem("DH-T122", {"path": str(directory), "detail": str(error)[:200]})) from None
    if data.get("version") != 1 or not isinstance(data.get("batches"), list):
        raise UserError(Problem("DH-T122", {"path": str(directory), "detail": "unknown manifest version"}))
    return data


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def update_snapshot(
    db: Session,
    directory: Path,
    *,
    now: datetime,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> SnapshotRun:
    """Export what is new since the last run (see the module docstring)."""
    if rebuild and directory.exists():
        shutil.rmtree(directory)
    manifest = read_manifest(directory)
    exported = set(manifest["batches"])
    batches = [
        (batch_id, counts or {})
        for batch_id, counts in db.execute(select(Batch.id, Batch.counts).order_by(Batch.received_at, Batch.id))
        if batch_id not in exported
    ]
    run = SnapshotRun(new_batches=len(batches))
    new_ids = [batch_id for batch_id, _ in batches]
    for record_type, schema in RECORD_COLUMNS.items():
        written = 0
        if new_ids:
            seq = int(manifest["parts"].get(record_type, 0)) + 1
            part = directory / "records" / record_type / f"part-{seq:06d}.parquet"
            written = _export_records(db, record_type, schema, new_ids, seq, part, progress)
            if written:
                manifest["parts"][record_type] = seq
                replaced = sum(int((counts.get(record_type) or {}).get("replaced", 0)) for _, counts in batches)
                manifest["replaced"][record_type] = int(manifest["replaced"].get(record_type, 0)) + replaced
        run.rows[record_type] = written
    for name, schema in REGISTRY_COLUMNS.items():
        frame = _query_frame(db, name, schema, None)
        _write_atomic(directory / "registry" / f"{name}.parquet", frame.write_parquet)
        run.rows[name] = frame.height
    manifest["batches"] = manifest["batches"] + new_ids
    manifest["updated_at"] = now.isoformat()
    text = json.dumps(manifest, ensure_ascii=False)
    _write_atomic(_manifest_path(directory), lambda path: path.write_text(text, encoding="utf-8"))
    return run


def _query_frames(
    db: Session, record_type: str, schema: dict[str, Any], batch_ids: Sequence[str] | None
) -> Iterator[pl.DataFrame]:
    table = table_for(record_type)
    columns = [
        cast(table.c[name], Float).label(name) if dtype == pl.Float64 else table.c[name]
        for name, dtype in schema.items()
    ]
    chunks: list[Sequence[str] | None] = [None]
    if batch_ids is not None:
        chunks = [batch_ids[i : i + _IN_CHUNK] for i in range(0, len(batch_ids), _IN_CHUNK)]
    for chunk in chunks:
        query = select(*columns)
        if chunk is not None:
            query = query.where(table.c.batch_id.in_(chunk))
        result = db.execute(query.execution_options(stream_results=True, yield_per=FETCH_ROWS))
        while rows := result.fetchmany(FETCH_ROWS):
            yield pl.DataFrame([tuple(row) for row in rows], schema=schema, orient="row")


def _query_frame(
    db: Session, record_type: str, schema: dict[str, Any], batch_ids: Sequence[str] | None
) -> pl.DataFrame:
    frames = list(_query_frames(db, record_type, schema, batch_ids))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _export_records(
    db: Session,
    record_type: str,
    schema: dict[str, Any],
    batch_ids: Sequence[str],
    seq: int,
    part: Path,
    progress: Progress | None,
) -> int:
    pq: Any = importlib.import_module("pyarrow.parquet")  # untyped library

    written = 0
    temporary = part.with_name(part.name + ".tmp")
    part.parent.mkdir(parents=True, exist_ok=True)
    writer: Any = None
    try:
        for frame in _query_frames(db, record_type, schema, batch_ids):
            table = frame.with_columns(_seq=pl.lit(seq, dtype=pl.Int32)).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(temporary, table.schema, compression="zstd")
            writer.write_table(table)
            written += frame.height
            if progress is not None:
                progress(frame.height)
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        os.replace(temporary, part)
    return written


# --- reading -------------------------------------------------------------------------------------------------


def connect(directory: Path, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views ``activity``, ``hba1c`` (current versions), ``participant``, ``device``."""
    manifest = read_manifest(directory)
    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    for record_type, schema in RECORD_COLUMNS.items():
        files = sorted((directory / "records" / record_type).glob("part-*.parquet"))
        if not files:
            _empty_view(con, record_type, schema)
            continue
        source = f"read_parquet({_sql_list(files)})"
        if int(manifest["replaced"].get(record_type, 0)) == 0:
            con.execute(f"CREATE VIEW {record_type} AS SELECT * EXCLUDE (_seq) FROM {source}")  # noqa: S608 - fixed names, quoted paths
        else:
            latest = "QUALIFY row_number() OVER (PARTITION BY id ORDER BY _seq DESC) = 1"
            con.execute(f"CREATE VIEW {record_type} AS SELECT * EXCLUDE (_seq) FROM {source} {latest}")  # noqa: S608
    for name, schema in REGISTRY_COLUMNS.items():
        path = directory / "registry" / f"{name}.parquet"
        if path.exists():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_list([path])})")  # noqa: S608
        else:
            _empty_view(con, name, schema)
    return con


def _sql_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths) + "]"


def _empty_view(con: duckdb.DuckDBPyConnection, name: str, schema: dict[str, Any]) -> None:
    empty = pl.DataFrame(schema=schema).to_arrow()
    con.register(f"_{name}_empty", empty)
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_empty")  # noqa: S608 - fixed names


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] | None = None) -> pl.DataFrame:
    """A DuckDB query's result as a polars frame (via Arrow, no Python rows)."""
    relation: Any = con.sql(sql, params=list(params) if params is not None else None)
    frame = pl.from_arrow(relation.to_arrow_table())
    assert isinstance(frame, pl.DataFrame)  # noqa: S101 - a table converts to a frame
    return frame


def connect_frames(frames: dict[str, pl.DataFrame]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose views are the given frames (tests, the synthetic truth check)."""
    con = duckdb.connect(":memory:")
    for name, schema in {**RECORD_COLUMNS, **REGISTRY_COLUMNS}.items():
        frame = frames.get(name)
        if frame is None:
            _empty_view(con, name, schema)
        else:
            con.register(f"_{name}_frame", frame.to_arrow())
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM _{name}_frame")  # noqa: S608 - fixed names
    return con
