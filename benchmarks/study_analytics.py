"""Study analytics at scale: 200,000 participants × 90 days of activity (18 M rows) in DuckDB.

    PYTHONPATH=src python benchmarks/study_analytics.py                  # 200,000 × 90 (the documented run)
    PYTHONPATH=src python benchmarks/study_analytics.py --participants 20000 --export 2000

What is measured:

1. **generate** (not a measurement of the hub): the activity, HbA1c and participant data are written
   directly as Parquet in the snapshot layout (``records/<type>/part-000001.parquet``, ``registry/…``) in
   chunks of 20,000 participants, as ``update_snapshot`` would have written them. Nothing goes through HTTP
   or the exchange checker at this size (docs/benchmarks.md has the ingest figures).
2. **windows**: DuckDB builds the per-participant HbA1c at baseline and each follow-up (600,000 values).
3. **effect**: the summary table, ANCOVA and DiD per stratum and pooled (statsmodels on numpy designs).
4. **mixed**: the random-intercept model on every measurement (optional, ``--no-mixed``).
5. **engagement**: days with data per participant per week by arm and device, and drop-out, over 18 M rows.
6. **export** (``--export N``): the path from the operational store to Parquet — N participants × 90 days
   ingested into a scratch SQLite database through the exchange service, then ``update_snapshot`` timed
   (rows per second of the export alone).

Every figure is printed with wall time, process CPU time (all threads) and the load average (``uptime``):
the machine has 2 cores shared with other work.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datahealth.analytics.study import effect, engagement, outcomes, synth
from datahealth.analytics.study.registry import generate_allocation
from datahealth.analytics.study.snapshot import MANIFEST, RECORD_COLUMNS, connect, query

START = date(2025, 4, 1)
CHUNK = 20_000
DEVICES = (("SYNA", "AM-100"), ("SYNB", "WB-20"), ("SYNC", "StepApp 2.1"))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def measure(label: str, work: Callable[[], Any], rows: list[tuple[str, str]]) -> Any:
    before = load()
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows.append((label, f"{wall:.1f} s wall, {cpu:.1f} s CPU (load before {before}, after {load()})"))
    print(rows[-1], flush=True)
    return result


def generate(folder: Path, participants: int, days: int, seed: int, thin: bool = False) -> tuple[pl.DataFrame, Any]:
    """Parquet in the snapshot layout; returns the participant registry and the study definition."""
    import pyarrow.parquet as pq

    definition = synth.default_definition(START, ("SYN01",))
    rng = np.random.default_rng(seed)
    ids = [f"P{n:06d}" for n in range(1, participants + 1)]
    registry = pl.DataFrame(
        {
            "consortium_id": ["SYN01"] * participants,
            "participant_id": ids,
            "sex_code": rng.choice(["1", "2"], participants).tolist(),
            "medication_code": rng.choice(["0", "1", "2", "3", "9"], participants, p=[0.55, 0.28, 0.08, 0.07, 0.02]),
            "commute_code": ["3"] * participants,
            "wearing_position_code": ["11"] * participants,
            "participation_start_date": [START - timedelta(days=60)] * participants,
            "participation_end_date": pl.Series([None] * participants, dtype=pl.Date),
        }
    )
    (folder / "registry").mkdir(parents=True)
    registry.write_parquet(folder / "registry" / "participant.parquet")
    pl.DataFrame(
        {
            "model_manufacturer_code": [d[0] for d in DEVICES],
            "model_number": [d[1] for d in DEVICES],
            "device_name": [d[1] for d in DEVICES],
            "device_category_code": ["1", "5", "4"],
        }
    ).write_parquet(folder / "registry" / "device.parquet")
    allocation = generate_allocation(definition, registry.select("consortium_id", "participant_id", "medication_code"))
    strata = [definition.stratum_of(c) or "unclassified" for c in registry["medication_code"].to_list()]
    control = (allocation["arm"] == "control").to_numpy()
    dropout = np.where(
        rng.random(participants) < np.where(control, 0.25, 0.15), rng.integers(1, 120, participants), 10**6
    )
    people = allocation.with_columns(stratum=pl.Series(strata), dropout_day=pl.Series(dropout))
    hba1c, _ = synth.simulate_hba1c(rng, people, definition)
    hba1c_table = hba1c.with_row_index("id").select(
        pl.col("id").cast(pl.Int64),
        "consortium_id",
        "participant_id",
        "observation_time",
        "hba1c",
        pl.lit("LAB1").alias("lab_id"),
        pl.lit("bench").alias("batch_id"),
        pl.lit(1, dtype=pl.Int32).alias("_seq"),
    )
    (folder / "records" / "hba1c").mkdir(parents=True)
    hba1c_table.write_parquet(folder / "records" / "hba1c" / "part-000001.parquet")

    (folder / "records" / "activity").mkdir(parents=True)
    writer = None
    device_of = rng.integers(0, len(DEVICES), participants)
    first_id = 0
    for start in range(0, participants, CHUNK):
        stop = min(start + CHUNK, participants)
        person = np.repeat(np.arange(start, stop), days)
        day = np.tile(np.arange(days), stop - start)
        keep = np.ones(person.size, dtype=bool)  # every participant-day: 18 M rows at 200,000 × 90
        if thin:  # or with non-wear days and drop-out, as the synthetic studies have them
            keep = (rng.random(person.size) < np.where(control[person], 0.82, 0.92)) & (day < dropout[person])
        person, day = person[keep], day[keep]
        n = person.size
        device = device_of[person]
        frame = pl.DataFrame(
            {
                "id": np.arange(first_id, first_id + n, dtype=np.int64),
                "consortium_id": pl.repeat("SYN01", n, eager=True, dtype=pl.String),
                "participant_id": pl.Series(ids).gather(pl.Series(person)),
                "observation_time": pl.Series(
                    (np.datetime64(START.isoformat()) + day.astype("timedelta64[D]")).astype("datetime64[us]")
                ),
                "step": rng.lognormal(np.log(6500), 0.4, n).astype(np.int64),
                "model_manufacturer_code": pl.Series([d[0] for d in DEVICES]).gather(pl.Series(device)),
                "model_number": pl.Series([d[1] for d in DEVICES]).gather(pl.Series(device)),
                "batch_id": pl.repeat("bench", n, eager=True, dtype=pl.String),
                "_seq": pl.Series(np.ones(n, dtype=np.int32)),
            }
        )
        first_id += n
        table = frame.to_arrow()
        if writer is None:
            writer = pq.ParquetWriter(
                folder / "records" / "activity" / "part-000001.parquet", table.schema, compression="zstd"
            )
        writer.write_table(table, row_group_size=1_000_000)
    if writer is not None:
        writer.close()
    manifest = {
        "version": 1,
        "batches": ["bench"],
        "parts": {"activity": 1, "hba1c": 1},
        "replaced": {},
        "updated_at": None,
    }
    import json

    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert set(RECORD_COLUMNS["activity"]) | {"_seq"} == set(frame.columns)
    return allocation, definition


def export_run(participants: int, rows: list[tuple[str, str]]) -> None:
    """Ingest ``participants`` × 90 days into scratch SQLite through the exchange service; time the export."""
    from datahealth import migrate
    from datahealth.analytics.study.snapshot import update_snapshot
    from datahealth.config import Settings
    from datahealth.db import make_engine, make_session_factory

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), environment="test")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        study = synth.generate_study(participants=participants, start=START, seed=3)
        now = datetime(2025, 12, 1, tzinfo=UTC)
        with make_session_factory(engine)() as db:
            measure(
                f"ingest {sum(f.height for f in study.data.records.values()):,} records (exchange service, SQLite)",
                lambda: synth.ingest_study(db, study, now=now),
                rows,
            )
            db.commit()
            run = measure(
                "export to Parquet (update_snapshot, SQLite → Parquet)",
                lambda: update_snapshot(db, Path(scratch) / "snapshot", now=now),
                rows,
            )
            rows.append(("  rows exported", f"{sum(run.rows.values()):,}"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-mixed", action="store_true")
    parser.add_argument("--thin", action="store_true", help="drop non-wear days and days after drop-out")
    parser.add_argument("--export", type=int, default=0, help="participants for the SQLite → Parquet export run")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = [("machine", f"{os.cpu_count()} cores; load at start {load()}")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "snapshot"
        allocation, definition = measure(
            f"generate Parquet ({args.participants:,} × {args.days} days; not the hub)",
            lambda: generate(folder, args.participants, args.days, args.seed, args.thin),
            rows,
        )
        con = connect(folder)
        activity_rows = query(con, "SELECT count(*) AS n FROM activity")["n"][0]
        rows.append(("activity rows", f"{activity_rows:,}"))
        long = measure(
            "windows: HbA1c per participant × time point (DuckDB)",
            lambda: outcomes.hba1c_long(con, definition, allocation),
            rows,
        )
        measure(
            "effect: summary + ANCOVA + DiD (strata and pooled)",
            lambda: (
                effect.summary(long, definition),
                [
                    fit(
                        effect.complete_cases(long, f.code).filter(pl.col("stratum") == s)
                        if s != effect.ALL
                        else effect.complete_cases(long, f.code).filter(pl.col("stratum") != "unclassified"),
                        "intervention",
                        "control",
                        s,
                        f.code,
                    )
                    for f in definition.follow_ups
                    for s in ("no_medication", "medication", effect.ALL)
                    for fit in (effect.ancova, effect.did)
                ],
            ),
            rows,
        )
        if not args.no_mixed:
            classified = long.filter(pl.col("stratum") != "unclassified")
            measure(
                "mixed model (pooled, all measurements)",
                lambda: effect.mixed(classified, definition, "intervention", effect.ALL),
                rows,
            )
        measure(
            "engagement: days/week by arm and device, drop-out (DuckDB)",
            lambda: engagement.engagement(con, definition, allocation),
            rows,
        )
        con.close()
    if args.export:
        export_run(args.export, rows)
    from bench_common import print_table

    print_table(rows)


if __name__ == "__main__":
    main()
