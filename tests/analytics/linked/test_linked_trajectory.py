"""Trajectory: the planted stroke scenario (seed 004's table) is recovered within sampling error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from datahealth.analytics.linked import engines, trajectory
from datahealth.analytics.linked.cohort import load_cohort, parse_cohort
from datahealth.analytics.linked.scenarios import SCENARIOS
from datahealth.errors import UserError


def test_planted_stroke_table_is_recovered(linked_dir: Path, synth_dir: Path) -> None:
    import duckdb

    cohort = load_cohort("stroke")
    result = trajectory.run_trajectory(engines.open_tables(linked_dir), cohort)
    planted = duckdb.execute(f"SELECT count(*) FROM '{synth_dir}/truth/persons.parquet' WHERE index_ym > 0").fetchone()  # noqa: S608 - test data paths
    assert planted is not None
    assert result.size == planted[0] > 300
    scenario = SCENARIOS["stroke"]
    n = result.size
    for service in cohort.services:
        for offset in cohort.offsets:
            p = scenario.share(service.key, offset)
            tolerance = 4 * math.sqrt(p * (1 - p) / n) + 1 / n
            assert abs(result.share(service.key, offset) - p) <= tolerance, (service.key, offset)
    assert result.share("general_ward", 0) == 1.0


def test_other_index_event_and_services(linked_dir: Path) -> None:
    """Any index event: first admission with a background inpatient diagnosis, two services."""
    cohort = parse_cohort(
        """
name: fracture
index: {source: medical, where: {setting: inpatient}, icd10: [S72]}
washout_months: 6
before: 3
after: 3
services:
  - {key: inpatient, label: 入院, source: medical, where: {setting: inpatient}}
  - {key: care, label: 介護, source: care}
"""
    )
    result = trajectory.run_trajectory(engines.open_tables(linked_dir), cohort)
    assert result.size > 0
    assert result.share("inpatient", 0) == 1.0
    assert set(result.counts["care"]) == set(range(-3, 4))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: x\nindex: {source: medical}\nservices: []", "services"),
        ("name: x\nindex: {source: nowhere}\nservices: [{key: a, label: A, source: care}]", "index.source"),
        ("name: x\nindex: {source: care, where: {icd10x: 1}}\nservices: [{key: a, label: A, source: care}]", "index"),
        ("name: x\nindex: {source: care, icd10: [I63]}\nservices: [{key: a, label: A, source: care}]", "index"),
        ("- just a list", "YAML"),
    ],
)
def test_bad_cohort_definitions_are_catalogued(text: str, field: str) -> None:
    with pytest.raises(UserError) as info:
        parse_cohort(text, "bad.yaml")
    problem = info.value.problems[0]
    assert problem.code == "DH-L103"
    assert problem.params["field"] == field
