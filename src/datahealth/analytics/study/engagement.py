"""Engagement from daily activity: days with data per participant per week, by arm and device; drop-out.

A participant's day "has data" when an activity record with steps > 0 exists for it. Weeks count from
the study start (week 0 = days 0–6), whole weeks up to the end of the last follow-up window. Every
allocated participant counts in every week, with 0 days when nothing was sent, so the means are per
allocated participant. The device of
a participant is the one that sent most of their records. Drop-out: the share of allocated participants
whose last day with data is on or after a given week (a participant with no data after the start has
dropped out at week 0). All in DuckDB over the snapshot's ``activity`` view.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from datahealth.analytics.study.model import StudyDefinition
from datahealth.analytics.study.snapshot import query


@dataclass(frozen=True)
class Engagement:
    by_arm: pl.DataFrame
    """arm, week, participants, mean_days (0–7), share_active_days (%)."""
    by_device: pl.DataFrame
    """device, week, participants, mean_days."""
    retention: pl.DataFrame
    """arm, week, participants, retained (%): last day with data ≥ the week's first day."""


def engagement(con: duckdb.DuckDBPyConnection, definition: StudyDefinition, allocation: pl.DataFrame) -> Engagement:
    weeks = max(1, max(f.target_days + f.window_days for f in definition.follow_ups) // 7)  # whole weeks only
    con.register("_alloc", allocation.select("consortium_id", "participant_id", "arm").to_arrow())
    start = definition.start_date
    # One row per participant and day with data (a participant may send the same day from two devices).
    query(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _days AS
        SELECT consortium_id, participant_id,
               date_diff('day', ?::DATE, CAST(observation_time AS DATE)) AS day,
               model_manufacturer_code AS maker, model_number AS model, count(*) AS records
        FROM activity JOIN _alloc USING (consortium_id, participant_id)
        WHERE step > 0 AND CAST(observation_time AS DATE) BETWEEN ?::DATE AND ?::DATE + (? * 7 - 1)
        GROUP BY ALL
        """,
        [start, start, start, weeks],
    )
    query(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _person AS
        WITH devices AS (
            SELECT consortium_id, participant_id, maker || ' ' || model AS device, sum(records) AS records,
                   max(day) AS last_day
            FROM _days GROUP BY ALL
        ), best AS (
            SELECT consortium_id, participant_id, arg_max(device, records) AS device, max(last_day) AS last_day
            FROM devices GROUP BY ALL
        )
        SELECT a.consortium_id, a.participant_id, a.arm, coalesce(b.device, '-') AS device, b.last_day
        FROM _alloc a LEFT JOIN best b USING (consortium_id, participant_id)
        """,
    )
    query(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _weekly AS
        WITH counts AS (
            SELECT consortium_id, participant_id, day // 7 AS week, count(DISTINCT day) AS days
            FROM _days GROUP BY ALL
        )
        SELECT p.arm, p.device, w.week, coalesce(c.days, 0) AS days
        FROM _person p CROSS JOIN range(?) w(week)
        LEFT JOIN counts c ON c.consortium_id = p.consortium_id AND c.participant_id = p.participant_id
                          AND c.week = w.week
        """,
        [weeks],
    )
    by_arm = query(
        con,
        "SELECT arm, week, count(*) AS participants, avg(days) AS mean_days, avg(days) / 7 * 100 AS share_active_days "
        "FROM _weekly GROUP BY ALL ORDER BY arm, week",
    )
    by_device = query(
        con,
        "SELECT device, week, count(*) AS participants, avg(days) AS mean_days FROM _weekly "
        "GROUP BY ALL ORDER BY device, week",
    )
    retention = query(
        con,
        """
        SELECT p.arm, w.week, count(*) AS participants,
               avg(CASE WHEN p.last_day >= w.week * 7 THEN 1 ELSE 0 END) * 100 AS retained
        FROM _person p CROSS JOIN range(?) w(week)
        GROUP BY ALL ORDER BY p.arm, w.week
        """,
        [weeks],
    )
    return Engagement(by_arm, by_device, retention)
