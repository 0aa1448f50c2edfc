"""Engagement on hand-made activity: days with data per week by arm and device, and the drop-out curve."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from datahealth.analytics.study import synth
from datahealth.analytics.study.engagement import engagement
from datahealth.analytics.study.snapshot import connect_frames

START = date(2025, 4, 1)


def test_days_per_week_and_retention():
    definition = synth.default_definition(START, ("SYN01",))  # follow-up to day 120: 17 whole weeks
    allocation = pl.DataFrame(
        {
            "consortium_id": ["SYN01"] * 3,
            "participant_id": ["P1", "P2", "P3"],
            "arm": ["intervention", "control", "control"],
        }
    )
    rows = []
    for day in range(14):  # P1: every day of weeks 0 and 1, twice on day 0 (two devices), nothing later
        rows.append(("P1", day, 5000, "SYNA"))
    rows.append(("P1", 0, 100, "SYNB"))
    for day in (0, 2, 4, 7 * 10):  # P2: three days in week 0, one in week 10; a zero-step day does not count
        rows.append(("P2", day, 3000, "SYNB"))
    rows.append(("P2", 1, 0, "SYNB"))
    rows.append(("P2", -3, 3000, "SYNB"))  # before the start: not counted
    activity = pl.DataFrame(
        {
            "consortium_id": ["SYN01"] * len(rows),
            "participant_id": [r[0] for r in rows],
            "observation_time": [datetime.combine(START + timedelta(days=r[1]), datetime.min.time()) for r in rows],
            "step": [r[2] for r in rows],
            "model_manufacturer_code": [r[3] for r in rows],
            "model_number": ["M"] * len(rows),
        }
    )
    result = engagement(connect_frames({"activity": activity}), definition, allocation)
    by_arm = {(r["arm"], r["week"]): r["mean_days"] for r in result.by_arm.iter_rows(named=True)}
    assert by_arm[("intervention", 0)] == 7 and by_arm[("intervention", 1)] == 7 and by_arm[("intervention", 2)] == 0
    assert by_arm[("control", 0)] == 1.5  # P2: 3 days, P3 (no data at all): 0 — P3 still counts
    assert by_arm[("control", 10)] == 0.5
    devices = {(r["device"], r["week"]): r["participants"] for r in result.by_device.iter_rows(named=True)}
    assert devices[("SYNA M", 0)] == 1 and devices[("SYNB M", 0)] == 1 and devices[("-", 0)] == 1
    retained = {(r["arm"], r["week"]): r["retained"] for r in result.retention.iter_rows(named=True)}
    assert retained[("intervention", 1)] == 100 and retained[("intervention", 2)] == 0
    assert retained[("control", 0)] == 50 and retained[("control", 10)] == 50 and retained[("control", 11)] == 0
    assert result.by_arm["week"].max() == 16  # whole weeks within the follow-up (days 0–118 of 0–120)
