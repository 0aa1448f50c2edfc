"""Exchange hub ingest benchmark: 1,000,000 activity records from one CSV file into SQLite and PostgreSQL.

Measured (records per second, best of ``--repeat`` runs):

* validate only — the real reader and checker (``read_csv.iter_csv_file`` + ``check.check``), streamed in
  chunks, against a registry snapshot held in memory;
* validate + store — ``service.ingest`` end to end (read, check, resend rule, one transaction, batch row)
  into a freshly migrated SQLite file (WAL, synchronous=FULL) and PostgreSQL database;
* ceiling (a) — the same file with no validation: polars ``read_csv``, DuckDB ``read_csv`` (if installed),
  PostgreSQL ``COPY`` into a table shaped like ``exch_activity`` (same columns, unique key and defaults;
  the two time columns as text, since PostgreSQL cannot parse yyyyMMddHHmmss), and SQLite ``executemany``
  of the raw rows into such a table;
* peers (b) — row-by-row parsing: a pydantic model per row, and ``fhir.resources`` ``Observation`` per row
  (if installed), on ``--peer-rows`` rows;
* peak RSS of a fresh process validating and storing files of 250,000, 1,000,000 and 2,000,000 rows, to show
  that memory does not grow with the file (VmHWM on Linux, where ``resource.getrusage``'s ru_maxrss of a child
  includes the launcher's size; ``getrusage`` elsewhere).

    python benchmarks/exchange_ingest.py --postgres "$DATAHEALTH_TEST_POSTGRES_URL"

Only synthetic data (``exchange.synth``). Not a test: results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import polars as pl
from bench_common import scratch_postgres
from pydantic import BaseModel, Field, StringConstraints, field_validator
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from datahealth import migrate
from datahealth.config import Settings
from datahealth.db import make_engine
from datahealth.exchange import synth
from datahealth.exchange.check import check
from datahealth.exchange.pipeline import CheckedBatch
from datahealth.exchange.read_csv import iter_csv_file, read_csv_files
from datahealth.exchange.registry import RegistrySnapshot, merge_registry
from datahealth.exchange.service import Sender, Upload, ingest

DAYS = 200
SEED = 7
REGISTRIES = ("consortium", "device", "hba1c_method", "activity_recording", "lab", "participant")


# --- data ---------------------------------------------------------------------------------------------------


def make_data(workdir: Path, rows: int) -> tuple[Path, datetime]:
    """activity.csv with ``rows`` records (participants × 200 days) and the registries, cached in ``workdir``."""
    folder = workdir / f"data-{rows}"
    marker = folder / "now.txt"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        data = synth.generate(participants=max(1, rows // DAYS), days=DAYS, seed=SEED, record_types=("activity",))
        activity = data.records["activity"].head(rows)
        (folder / "activity.csv").write_bytes(synth.csv_bytes(activity))
        for name, content in synth.csv_files(data, records=False):
            (folder / name).write_bytes(content)
        marker.write_text(datetime.combine(data.end + timedelta(days=1), day_time(3), tzinfo=UTC).isoformat())
    return folder, datetime.fromisoformat(marker.read_text())


def snapshot(folder: Path, now: datetime) -> RegistrySnapshot:
    raw = read_csv_files([(f"{name}.csv", (folder / f"{name}.csv").read_bytes()) for name in REGISTRIES])
    checked = check(raw, RegistrySnapshot.empty(), sender=None, now=now)
    assert not checked.errors, checked.errors[:3]
    return merge_registry(RegistrySnapshot.empty(), checked)


# --- measured steps ---------------------------------------------------------------------------------------------


def best(repeat: int, run: Callable[[], int], setup: Callable[[], None] | None = None) -> tuple[float, int]:
    """(fastest seconds, rows) over ``repeat`` runs; ``setup`` runs before each, untimed."""
    timings = []
    rows = 0
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        rows = run()
        timings.append(time.perf_counter() - start)
    return min(timings), rows


def validate_only(path: Path, registry: RegistrySnapshot, now: datetime) -> int:
    rows = 0
    with path.open("rb") as stream:
        for chunk in iter_csv_file("activity.csv", stream):
            checked: CheckedBatch = check(chunk, registry, sender=None, now=now)
            assert not checked.errors, checked.errors[:3]
            rows += sum(checked.received.values())
    return rows


def fresh_sqlite(directory: Path) -> Engine:
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (directory / f"datahealth.sqlite3{suffix}").unlink(missing_ok=True)
    engine = make_engine(Settings(data_dir=directory, environment="test"))
    migrate.upgrade(engine)
    return engine


def fresh_postgres(url: str) -> tuple[Engine, Callable[[], None]]:
    """A freshly migrated scratch database on the server of ``url`` and the function that drops it."""
    stack = ExitStack()
    scratch_url = stack.enter_context(scratch_postgres(url, f"bench_exchange_{uuid.uuid4().hex[:8]}"))
    engine = create_engine("postgresql+psycopg://" + scratch_url.split("://", 1)[1])
    migrate.upgrade(engine)

    def drop() -> None:
        engine.dispose()
        stack.close()

    return engine, drop


def register(engine: Engine, folder: Path, now: datetime) -> None:
    uploads = [Upload(f"{name}.csv", path=folder / f"{name}.csv") for name in REGISTRIES]
    with Session(engine) as db:
        result = ingest(db, Sender(None, "bench"), uploads, channel="cli", now=now)
        assert result.status == "accepted", result.issues[:3]
        db.commit()


def store(engine: Engine, path: Path, now: datetime) -> int:
    with Session(engine) as db:
        result = ingest(db, Sender(None, "bench"), [Upload("activity.csv", path=path)], channel="cli", now=now)
        db.commit()
    assert result.status == "accepted", result.issues[:3]
    counts = result.counts["activity"]
    return counts["stored"] + counts["unchanged"]


def clear(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE exch_activity"))
        else:
            connection.execute(text("DELETE FROM exch_activity"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM")


# --- ceilings ---------------------------------------------------------------------------------------------------


def polars_read(path: Path) -> int:
    return pl.read_csv(path).height


def duckdb_read(path: Path) -> int:
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}', header = true)")  # noqa: S608 - own file
    rows = connection.execute("SELECT count(*) FROM t").fetchone()
    connection.close()
    return int(rows[0]) if rows else 0


def postgres_copy(engine: Engine, path: Path) -> int:
    """COPY the file as it is into a table shaped like exch_activity (times as text), one transaction."""
    header = path.open("rb").readline().decode().strip()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_ceiling"))
        connection.execute(
            text(
                "CREATE TABLE bench_ceiling (LIKE exch_activity INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                "INCLUDING INDEXES)"
            )
        )
        connection.execute(
            text(
                "ALTER TABLE bench_ceiling ALTER COLUMN observation_time TYPE varchar(14), "
                "ALTER COLUMN update_time TYPE varchar(17), ALTER COLUMN flags SET DEFAULT '', "
                "ALTER COLUMN batch_id SET DEFAULT 'raw', ALTER COLUMN stored_at SET DEFAULT now()"
            )
        )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with (
            path.open("rb") as stream,
            cursor.copy(  # type: ignore[attr-defined]
                f"COPY bench_ceiling ({header}) FROM STDIN (FORMAT csv, HEADER true)"
            ) as copy,
        ):
            while block := stream.read(1 << 20):
                copy.write(block)
        raw.commit()
        cursor.execute("SELECT count(*) FROM bench_ceiling")
        rows = int(cursor.fetchone()[0])
        cursor.execute("DROP TABLE bench_ceiling")
        raw.commit()
    finally:
        raw.close()
    return rows


def sqlite_executemany(directory: Path, path: Path) -> int:
    """The raw rows (csv module) into an SQLite table shaped like exch_activity, one transaction."""
    database = directory / "ceiling.sqlite3"
    database.unlink(missing_ok=True)
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    with path.open(newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        columns = ", ".join(f"{name} TEXT" for name in header)
        identity = ", ".join(header[:3] + header[11:14])
        connection.execute(
            f"CREATE TABLE ceiling (id INTEGER PRIMARY KEY, {columns}, flags TEXT DEFAULT '', batch_id TEXT DEFAULT "
            f"'raw', stored_at TEXT DEFAULT CURRENT_TIMESTAMP, UNIQUE ({identity}))"
        )
        marks = ", ".join("?" for _ in header)
        insert = f"INSERT INTO ceiling ({', '.join(header)}) VALUES ({marks})"  # noqa: S608 - the file's own header
        connection.executemany(insert, reader)
    connection.commit()
    rows = connection.execute("SELECT count(*) FROM ceiling").fetchone()[0]
    connection.close()
    database.unlink()
    return int(rows)


# --- peers ------------------------------------------------------------------------------------------------------

Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,2}$")]
Text50 = Annotated[str, StringConstraints(pattern=r"^[ -~]{1,50}$")]


class ActivityRow(BaseModel):
    """The activity record as a conventional pydantic model, parsed one row at a time."""

    consortium_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")]
    participant_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,20}$")]
    observation_time: datetime
    step: int = Field(ge=0, le=99999)
    walk_time: int | None = Field(default=None, ge=0, le=9999)
    moderate_intensity_activity: int | None = Field(default=None, ge=0, le=9999)
    calories: Decimal | None = Field(default=None, max_digits=5, decimal_places=1)
    total_calories: Decimal | None = Field(default=None, max_digits=5, decimal_places=1)
    distance: Decimal | None = Field(default=None, max_digits=4, decimal_places=1)
    exercise: Decimal | None = Field(default=None, max_digits=4, decimal_places=1)
    physical_activity: Decimal | None = Field(default=None, max_digits=5, decimal_places=1)
    model_manufacturer_code: Text50
    model_number: Text50
    production_specification_serial: Text50
    total_active_duration: int = Field(ge=0, le=9999)
    data_input_code: Code
    measurement_position_code: Code | None = None
    origin_of_time_code: Code
    update_time: datetime

    @field_validator("observation_time", mode="before")
    @classmethod
    def _time14(cls, value: str) -> datetime:
        return datetime.strptime(value, "%Y%m%d%H%M%S")

    @field_validator("update_time", mode="before")
    @classmethod
    def _time17(cls, value: str) -> datetime:
        return datetime.strptime(value + "000", "%Y%m%d%H%M%S%f")

    @field_validator("*", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return None if value == "" else value


def peer_rows(path: Path, rows: int) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return [row for _, row in zip(range(rows), csv.DictReader(stream), strict=False)]


def pydantic_parse(rows: list[dict[str, str]]) -> int:
    return sum(1 for row in rows if ActivityRow.model_validate(row))


def fhir_parse(rows: list[dict[str, str]]) -> int:
    from fhir.resources.R4B.observation import Observation

    parsed = 0
    for row in rows:
        observed = datetime.strptime(row["observation_time"], "%Y%m%d%H%M%S")
        resource_ = {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "41950-7"}]},
            "subject": {
                "identifier": {"system": f"urn:consortium:{row['consortium_id']}", "value": row["participant_id"]}
            },
            "effectiveDateTime": observed.strftime("%Y-%m-%dT%H:%M:%S+09:00"),
            "valueQuantity": {
                "value": int(row["step"]),
                "unit": "steps",
                "system": "http://unitsofmeasure.org",
                "code": "{steps}",
            },
        }
        parsed += bool(Observation.model_validate(resource_))
    return parsed


# --- memory: a fresh process per size ---------------------------------------------------------------------------


def child(mode: str, folder: Path, path: Path, now: datetime, postgres: str) -> None:
    """Run one step in this (fresh) process and print its seconds and peak RSS as JSON."""
    start = time.perf_counter()
    drop: Callable[[], None] = lambda: None  # noqa: E731 - a no-op default
    if mode == "validate":
        rows = validate_only(path, snapshot(folder, now), now)
    else:
        if mode == "store-postgres":
            engine, drop = fresh_postgres(postgres)
        else:
            engine = fresh_sqlite(folder / "rss-sqlite")
        register(engine, folder, now)
        start = time.perf_counter()
        rows = store(engine, path, now)
    seconds = time.perf_counter() - start
    drop()
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": round(peak_rss_mb())}))


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux keeps ``getrusage``'s ru_maxrss across fork+exec (a child launched by this
    big process would report at least the launcher's size), so the per-address-space VmHWM is used there."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure_child(mode: str, workdir: Path, rows: int, postgres: str) -> dict[str, Any]:
    make_data(workdir, rows)
    command = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir), "--rows", str(rows)]
    command += ["--postgres", postgres]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - own script
    return dict(json.loads(output.strip().splitlines()[-1]))


# --- report -----------------------------------------------------------------------------------------------------


def machine(postgres_engine: Engine | None) -> str:
    parts = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"polars {pl.__version__}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if postgres_engine is not None:
        with postgres_engine.connect() as connection:
            parts.append("PostgreSQL " + str(connection.execute(text("SHOW server_version")).scalar()))
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--memory-rows", type=int, nargs="*", default=[250_000, 1_000_000, 2_000_000], help="file sizes for peak RSS"
    )
    parser.add_argument("--peer-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres", default="", help="server URL whose user may create databases")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-exchange"))
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    folder, now = make_data(args.workdir.resolve(), args.rows)
    path = folder / "activity.csv"
    if args.child:
        child(args.child, folder, path, now, args.postgres)
        return
    rows = args.rows
    results: list[tuple[str, float, int]] = []

    def record(label: str, seconds: float, count: int) -> None:
        assert count == rows or label.startswith("peer"), (label, count)
        results.append((label, seconds, count))
        print(f"{label:76} {seconds:8.2f} s {count / seconds:12,.0f} records/s", flush=True)

    size = path.stat().st_size / 1e6
    print(f"{rows:,} activity records, {size:.0f} MB: {path}", flush=True)
    record("ceiling: polars read_csv (no validation)", *best(args.repeat, lambda: polars_read(path)))
    try:
        import duckdb  # noqa: F401 - imported before timing

        record("ceiling: DuckDB read_csv into a table (no validation)", *best(args.repeat, lambda: duckdb_read(path)))
    except ImportError:
        print("DuckDB not installed: skipped")
    registry = snapshot(folder, now)
    record(
        "validate only: read_csv + check (streamed, 200,000-row chunks)",
        *best(args.repeat, lambda: validate_only(path, registry, now)),
    )

    engine = fresh_sqlite(args.workdir / "sqlite")
    record(
        "ceiling: SQLite executemany of the raw rows (no validation)",
        *best(args.repeat, lambda: sqlite_executemany(args.workdir, path)),
    )
    register(engine, folder, now)

    record(
        "validate + store: SQLite (ingest, empty table)",
        *best(args.repeat, lambda: store(engine, path, now), lambda: clear(engine)),
    )
    record("resend of the same file: SQLite (every record unchanged)", *best(1, lambda: store(engine, path, now)))
    engine.dispose()

    postgres_engine: Engine | None = None
    if args.postgres:
        postgres_engine, drop = fresh_postgres(args.postgres)
        pg = postgres_engine
        record(
            "ceiling: PostgreSQL COPY into an exch_activity-shaped table (no validation)",
            *best(args.repeat, lambda: postgres_copy(pg, path)),
        )
        register(pg, folder, now)

        record(
            "validate + store: PostgreSQL (ingest, empty table)",
            *best(args.repeat, lambda: store(pg, path, now), lambda: clear(pg)),
        )
        record("resend of the same file: PostgreSQL (every record unchanged)", *best(1, lambda: store(pg, path, now)))
        info = machine(pg)
        drop()
    else:
        info = machine(None)

    sample = peer_rows(path, args.peer_rows)
    record(f"peer: pydantic model per row ({len(sample):,} rows)", *best(1, lambda: pydantic_parse(sample)))
    try:
        from fhir.resources.R4B.observation import Observation  # noqa: F401 - imported before timing

        fhir_sample = sample[: max(1, len(sample) // 5)]
        record(
            f"peer: fhir.resources Observation per row ({len(fhir_sample):,} rows)",
            *best(1, lambda: fhir_parse(fhir_sample)),
        )
    except ImportError:
        print("fhir.resources not installed: skipped")

    print("\npeak RSS of a fresh process (MB):", flush=True)
    modes = ["validate", "store-sqlite", *(["store-postgres"] if args.postgres else [])]
    for mode in modes:
        for size in args.memory_rows:
            measured = measure_child(mode, args.workdir.resolve(), size, args.postgres)
            print(
                f"  {mode:15} {measured['rows']:>9,} rows: {measured['peak_rss_mb']:5} MB "
                f"({measured['rows'] / measured['seconds']:,.0f} records/s)",
                flush=True,
            )
    print(f"\nmachine: {info}")


if __name__ == "__main__":
    main()
