"""HbA1c per participant and time point, windowed in DuckDB over the snapshot (no row-by-row Python).

Every allocated participant appears once per time point (baseline and each follow-up), with a value or
with ``null`` when nothing fell in the window, so missing follow-up is counted, never silently dropped.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from datahealth.analytics.study.model import StudyDefinition
from datahealth.analytics.study.registry import UNCLASSIFIED
from datahealth.analytics.study.snapshot import query

BASELINE = "baseline"
LONG_SCHEMA = {
    "consortium_id": pl.String,
    "participant_id": pl.String,
    "arm": pl.String,
    "stratum": pl.String,
    "time": pl.String,
    "time_index": pl.Int32,
    "target_day": pl.Int32,
    "day": pl.Int32,
    "value": pl.Float64,
}


def windows(definition: StudyDefinition) -> pl.DataFrame:
    """One row per time point: code, order, [lo, hi] in days from the start, target day and rule."""
    rows = [(BASELINE, 0, -definition.baseline.days_before, definition.baseline.days_after, 0, "last")]
    rows += [
        (f.code, i + 1, f.target_days - f.window_days, f.target_days + f.window_days, f.target_days, "closest")
        for i, f in enumerate(definition.follow_ups)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "time": pl.String,
            "time_index": pl.Int32,
            "lo": pl.Int32,
            "hi": pl.Int32,
            "target_day": pl.Int32,
            "rule": pl.String,
        },
        orient="row",
    )


def participants_with_strata(
    con: duckdb.DuckDBPyConnection, definition: StudyDefinition, allocation: pl.DataFrame
) -> pl.DataFrame:
    """The allocation joined to the registry's stratum field (``unclassified`` when in no group)."""
    con.register("_allocation", allocation.select("consortium_id", "participant_id", "arm").to_arrow())
    field = definition.strata.field
    joined = query(
        con,
        f"SELECT a.consortium_id, a.participant_id, a.arm, p.{field} AS stratum_code "  # noqa: S608 - field is a Literal
        "FROM _allocation a LEFT JOIN participant p USING (consortium_id, participant_id)",
    )
    mapping = {code: group.code for group in definition.strata.groups for code in group.codes}
    result: pl.DataFrame = joined.with_columns(
        stratum=pl.col("stratum_code").replace_strict(mapping, default=UNCLASSIFIED, return_dtype=pl.String)
    ).drop("stratum_code")
    return result


def hba1c_long(con: duckdb.DuckDBPyConnection, definition: StudyDefinition, allocation: pl.DataFrame) -> pl.DataFrame:
    """consortium_id, participant_id, arm, stratum, time, time_index, target_day, day, value (null = missing)."""
    people = participants_with_strata(con, definition, allocation)
    con.register("_people", people.to_arrow())
    con.register("_windows", windows(definition).to_arrow())
    start = definition.start_date
    frame = query(
        con,
        """
        WITH h AS (
            SELECT consortium_id, participant_id,
                   date_diff('day', ?::DATE, CAST(observation_time AS DATE)) AS day, hba1c AS value
            FROM hba1c
        ),
        picked AS (
            SELECT h.consortium_id, h.participant_id, w.time,
                   arg_min(h.value, CASE WHEN w.rule = 'last' THEN -h.day
                                         ELSE abs(h.day - w.target_day) * 2 + (h.day > w.target_day)::INT END) AS value,
                   arg_min(h.day, CASE WHEN w.rule = 'last' THEN -h.day
                                       ELSE abs(h.day - w.target_day) * 2 + (h.day > w.target_day)::INT END) AS day
            FROM h JOIN _windows w ON h.day BETWEEN w.lo AND w.hi
            WHERE h.value IS NOT NULL
            GROUP BY ALL
        )
        SELECT p.consortium_id, p.participant_id, p.arm, p.stratum, w.time, w.time_index, w.target_day,
               k.day, k.value
        FROM _people p CROSS JOIN _windows w
        LEFT JOIN picked k ON k.consortium_id = p.consortium_id AND k.participant_id = p.participant_id
                          AND k.time = w.time
        ORDER BY p.consortium_id, p.participant_id, w.time_index
        """,
        [start],
    )
    result: pl.DataFrame = frame.cast(LONG_SCHEMA)  # type: ignore[arg-type]  # a name → dtype mapping
    return result


def wide(long: pl.DataFrame) -> pl.DataFrame:
    """One row per participant: arm, stratum and a value column per time point (``baseline``, ``m3`` …)."""
    return long.pivot(on="time", index=["consortium_id", "participant_id", "arm", "stratum"], values="value")


def study_day(definition: StudyDefinition, when: date) -> int:
    return (when - definition.start_date).days
