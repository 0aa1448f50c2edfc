"""Health scoring: thresholds, "×" under 50, quintile grades, reports per insurer, same result on Spark."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from datahealth.analytics.linked import insurer_scoring as scoring
from datahealth.errors import UserError
from datahealth.reports import scoring_report


@pytest.fixture(scope="module")
def data(synth_dir: Path, linked_dir: Path) -> scoring.ScoringData:
    return scoring_report.load(synth_dir)


def test_checkup_counts_match_a_direct_count(data: scoring.ScoringData, linked_dir: Path) -> None:
    """Risk counts follow the 保健指導判定値 (checked independently in SQL)."""
    con = duckdb.connect()
    expected = con.execute(
        f"""
        SELECT p.insurer_no, c.fiscal_year, count(*) AS checked,
               count(*) FILTER (WHERE c.sbp >= 130 OR c.dbp >= 85) AS bp,
               count(*) FILTER (WHERE c.bmi >= 25 OR c.waist_cm >= CASE WHEN p.sex = 1 THEN 85 ELSE 90 END) AS obesity,
               count(*) FILTER (WHERE c.ast >= 31 OR c.alt >= 31 OR c.ggt >= 51) AS liver
        FROM '{linked_dir}/checkups.parquet' c JOIN '{linked_dir}/persons.parquet' p USING (pid)
        WHERE p.enrol_start <= c.fiscal_year * 12 + 3 AND p.enrol_end >= c.fiscal_year * 12 + 14
          AND ((c.fiscal_year + 1) * 12 + 2 - ((p.birth_ym // 100) * 12 + p.birth_ym % 100 - 1)) // 12
              BETWEEN 40 AND 74
        GROUP BY ALL ORDER BY ALL
        """  # noqa: S608 - test data paths
    ).df()
    got = data.counts.reset_index()
    merged = expected.merge(got, on=["insurer_no", "fiscal_year"])
    assert len(merged) == len(expected) > 0
    assert (merged.checked_x == merged.checked_y).all()
    assert (merged.bp == merged.risk_bp).all()
    assert (merged.obesity == merged.risk_obesity).all()
    assert (merged.liver == merged.risk_liver).all()


def test_small_groups_are_hidden(data: scoring.ScoringData) -> None:
    metric = scoring.METRICS[0]
    frame = data.counts.xs(2023, level="fiscal_year")
    small = frame[frame[metric.denominator] < scoring.MIN_GROUP].index
    values = scoring.values(data, metric, 2023)
    assert len(small) > 0
    assert values[small].isna().all()
    assert values.drop(small).notna().all()


def test_grade_by_quintile() -> None:
    peers = pd.Series(np.arange(100, dtype=float))
    assert scoring.grade(99.0, peers, higher_is_better=True) == 5
    assert scoring.grade(0.0, peers, higher_is_better=True) == 1
    assert scoring.grade(0.0, peers, higher_is_better=False) == 5
    assert scoring.grade(50.0, peers, higher_is_better=True) == 3
    assert scoring.grade(None, peers, higher_is_better=True) is None
    assert scoring.grade(1.0, pd.Series([1.0, 2.0]), higher_is_better=True) is None


def test_report_per_insurer(data: scoring.ScoringData, tmp_path: Path) -> None:
    kenpo = data.insurers[data.insurers.insurer_type == "健保組合"].insurer_no.tolist()
    report = scoring.report_for(data, kenpo[0])
    assert [row.metric.key for row in report.rows][:2] == ["checkup_rate", "guidance_rate"]
    assert len(report.costs) == 2 * len(scoring.AGE_BANDS)
    html = scoring_report.render_html(report)
    assert "特定健診実施率" in html and "保健指導判定値" in html and report.name in html
    result = scoring_report.write_reports(data, tmp_path, None, pdf=False)
    assert result.insurers == len(kenpo)
    assert len(list(tmp_path.glob("scoring_*.html"))) == len(kenpo)
    with pytest.raises(UserError) as info:
        scoring_report.write_reports(data, tmp_path, ["99999999"], pdf=False)
    assert info.value.problems[0].code == "DH-L106"


def test_one_pdf(data: scoring.ScoringData, tmp_path: Path) -> None:
    first = data.insurers[data.insurers.insurer_type == "健保組合"].insurer_no.iloc[0]
    result = scoring_report.write_reports(data, tmp_path, [first])
    pdf = tmp_path / f"scoring_{first}.pdf"
    assert pdf in result.written
    assert pdf.read_bytes().startswith(b"%PDF")
