"""Micro-benchmark: records/s of ``exchange.check.check`` on synthetic activity rows.

    python benchmarks/exchange_check.py [--rows 1000000] [--repeat 3] [--errors 0.01]

Builds the raw frame (strings, as the CSV reader produces) directly with polars, with a share of
planted errors and implausible values, and times check() only: reading and storing are measured by
the ingest benchmark. Prints the best of ``--repeat`` runs: wall time, and CPU time of all threads
(which a busy machine inflates less; on an idle machine wall ≈ CPU / cores used).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from datahealth.exchange import spec
from datahealth.exchange.check import check
from datahealth.exchange.pipeline import LOCATOR, SOURCE, RawBatch
from datahealth.exchange.registry import DEVICES_SCHEMA, PARTICIPANTS_SCHEMA, RegistrySnapshot

CONSORTIUM = "C01"
PARTICIPANTS = 2_000


def registry() -> RegistrySnapshot:
    participants = pl.DataFrame(
        {
            "consortium_id": [CONSORTIUM] * PARTICIPANTS,
            "participant_id": [f"P{i:05d}" for i in range(PARTICIPANTS)],
            "participation_start_date": [date(2020, 1, 1)] * PARTICIPANTS,
            "participation_end_date": [None] * PARTICIPANTS,
        },
        schema=PARTICIPANTS_SCHEMA,
    )
    devices = pl.DataFrame(
        {
            "model_manufacturer_code": ["MAKER1", "MAKER2"],
            "model_number": ["AM-100", "HealthKit 1.2"],
            "device_category_code": ["1", "4"],
            "measured_items": ["walk_time moderate_intensity_activity calories total_calories distance", "calories"],
        },
        schema=DEVICES_SCHEMA,
    )
    empty = RegistrySnapshot.empty()
    return RegistrySnapshot(frozenset({CONSORTIUM}), participants, devices, empty.labs, empty.methods)


def activity_rows(rows: int, error_share: float, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    person = np.arange(rows) % PARTICIPANTS
    device = rng.integers(0, 2, rows)
    day = np.arange(rows) // PARTICIPANTS
    frame = pl.DataFrame(
        {
            "person": person,
            "device": device,
            "day": day,
            "step": rng.integers(0, 20_000, rows),
            "minutes": rng.integers(0, 300, rows),
            "kcal": rng.integers(0, 30_000, rows),
            "row": np.arange(rows),
        }
    )
    first = pl.lit(date(2021, 1, 1))
    raw = frame.select(
        pl.lit(CONSORTIUM).alias("consortium_id"),
        pl.format("P{}", pl.col("person").cast(pl.String).str.zfill(5)).alias("participant_id"),
        (first + pl.duration(days=pl.col("day"))).dt.strftime("%Y%m%d000000").alias("observation_time"),
        pl.col("step").cast(pl.String),
        pl.col("minutes").cast(pl.String).alias("walk_time"),
        (pl.col("minutes") // 2).cast(pl.String).alias("moderate_intensity_activity"),
        pl.format("{}.{}", pl.col("kcal") // 10, pl.col("kcal") % 10).alias("calories"),
        pl.format("{}.{}", pl.col("kcal") // 10 + 1500, pl.col("kcal") % 10).alias("total_calories"),
        pl.when(pl.col("device") == 0).then(pl.lit("5.2")).alias("distance"),
        pl.lit(None, dtype=pl.String).alias("exercise"),
        pl.lit(None, dtype=pl.String).alias("physical_activity"),
        pl.when(pl.col("device") == 0)
        .then(pl.lit("MAKER1"))
        .otherwise(pl.lit("MAKER2"))
        .alias("model_manufacturer_code"),
        pl.when(pl.col("device") == 0).then(pl.lit("AM-100")).otherwise(pl.lit("HealthKit 1.2")).alias("model_number"),
        pl.format("SER{}", pl.col("person")).alias("production_specification_serial"),
        pl.lit("1440").alias("total_active_duration"),
        pl.lit("0").alias("data_input_code"),
        pl.when(pl.col("device") == 0).then(pl.lit("30")).alias("measurement_position_code"),
        pl.lit("1").alias("origin_of_time_code"),
        (first + pl.duration(days=pl.col("day") + 1)).dt.strftime("%Y%m%d010203456").alias("update_time"),
        pl.lit("activity.csv").alias(SOURCE),
        pl.format("line {}", pl.col("row") + 2).alias(LOCATOR),
    )
    if error_share > 0:
        planted = rng.random(rows) < error_share
        raw = raw.with_columns(
            pl.when(pl.Series(planted)).then(pl.lit("12.5")).otherwise(pl.col("step")).alias("step"),
        )
    assert raw.columns[:-2] == list(spec.ACTIVITY.names)
    # A CSV round trip makes every column a plain string column, as the reader hands them on.
    return pl.read_csv(raw.write_csv().encode(), infer_schema=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--errors", type=float, default=0.01, help="share of rows with a planted error")
    args = parser.parse_args()
    frame = activity_rows(args.rows, args.errors)
    snapshot = registry()
    now = datetime.now(UTC)
    best = cpu = float("inf")
    checked = None
    for _ in range(args.repeat):
        raw = RawBatch("csv", ["activity.csv"], {"activity": frame})
        started, started_cpu = time.perf_counter(), time.process_time()
        checked = check(raw, snapshot, sender=CONSORTIUM, now=now)
        best = min(best, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    assert checked is not None
    stored = checked.frames["activity"].height
    print(
        f"check(): {args.rows:,} activity rows in {best:.3f} s = {args.rows / best:,.0f} records/s; "
        f"CPU time {cpu:.3f} s = {args.rows / cpu:,.0f} records per CPU-second "
        f"(best of {args.repeat}; {stored:,} valid, {len(checked.errors):,} errors, {len(checked.flags):,} flags; "
        f"polars {pl.__version__}, {os.cpu_count()} CPUs, POLARS_MAX_THREADS={pl.thread_pool_size()})"
    )


if __name__ == "__main__":
    main()
