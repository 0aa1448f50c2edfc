"""One code path, two engines: the same Ibis expressions give identical results on DuckDB and Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from datahealth.analytics.linked import engines, trajectory
from datahealth.analytics.linked import insurer_scoring as scoring
from datahealth.analytics.linked.cohort import load_cohort
from datahealth.errors import UserError
from datahealth.reports import scoring_report

pytestmark = pytest.mark.spark


def test_trajectory_identical_on_duckdb_and_spark(linked_dir: Path, spark: Any) -> None:
    cohort = load_cohort("stroke")
    on_duckdb = trajectory.run_trajectory(engines.open_tables(linked_dir, "duckdb"), cohort)
    on_spark = trajectory.run_trajectory(engines.open_tables(linked_dir, "spark"), cohort)
    assert on_spark.engine == "spark"
    assert on_duckdb.size == on_spark.size > 0
    assert on_duckdb.counts == on_spark.counts


def test_unknown_engine_is_catalogued(linked_dir: Path) -> None:
    with pytest.raises(UserError) as info:
        engines.open_tables(linked_dir, "oracle")  # type: ignore[arg-type]
    assert info.value.problems[0].code == "DH-L105"


def test_scoring_identical_on_duckdb_and_spark(synth_dir: Path, linked_dir: Path, spark: Any) -> None:
    data = scoring_report.load(synth_dir)
    on_spark = scoring.compute(engines.open_tables(linked_dir, "spark"), data.insurers)
    pd.testing.assert_frame_equal(on_spark.counts, data.counts, check_dtype=False)
    columns = ["insurer_no", "fiscal_year", "band", "sex", "members", "cost", "generic_lines", "dispensed_lines"]
    left = on_spark.costs[columns].reset_index(drop=True)
    right = data.costs[columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
