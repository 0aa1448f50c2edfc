"""Privacy by default: published trajectory outputs hide small counts and their complements."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from datahealth.analytics.linked import publish, trajectory_output
from datahealth.analytics.linked.cohort import load_cohort
from datahealth.analytics.linked.trajectory import Trajectory


def _trajectory(size: int, count: int) -> Trajectory:
    cohort = load_cohort("stroke")
    counts = {s.key: dict.fromkeys(cohort.offsets, count) for s in cohort.services}
    counts["general_ward"][0] = size
    counts["rehab_ward"][-6] = 3  # a small cell
    counts["care_insurance"][1] = size - 4  # 4 persons not using: the complement is small
    return Trajectory(cohort, size, counts, "duckdb")


def test_hidden_cells() -> None:
    rows = [[3, 50, 96], [0, 10, 100]]
    assert publish.trajectory_hidden(100, rows) == {(0, 0), (0, 2), (1, 0)}
    assert publish.trajectory_hidden(9, rows) == {(i, j) for i in range(2) for j in range(3)}


def test_published_table_hides_and_analyst_table_does_not(tmp_path: Path) -> None:
    result = _trajectory(200, 40)
    published = trajectory_output.table(result)
    assert published[0][0] == "経過月" and published[0][1] == "一般病棟入院" and published[0][-1] == "脳卒中 連携バス"
    assert published[1][2] == "—"  # rehab ward at −6: 3 persons
    assert published[8][8] == "—"  # care insurance at +1: 196 of 200
    assert published[7][1] == "100.0%" and published[1][1] == "20.0%"
    analyst = trajectory_output.table(result, published=False)
    assert analyst[1][2] == "1.5%" and analyst[8][8] == "98.0%"
    paths = trajectory_output.write_all(result, tmp_path)
    assert [p.suffix for p in paths] == [".csv", ".xlsx", ".html", ".svg"]
    assert "1.5%" not in paths[0].read_text(encoding="utf-8")
    sheet = load_workbook(paths[1]).active
    assert sheet is not None
    assert sheet.cell(row=4, column=3).value == "—"
    assert sheet.cell(row=4, column=2).value == 0.2
    svg = paths[3].read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "脳卒中 連携バス" in svg


def test_small_cohort_hides_everything() -> None:
    result = _trajectory(8, 4)
    assert trajectory_output.cohort_label(result).endswith("—")
    assert all(cell == "—" for row in trajectory_output.table(result)[1:] for cell in row[1:])
