"""Count tables and their views, by hand."""

from __future__ import annotations

import pytest

from datahealth.analytics.aggregates import MET_COLUMNS, CountTable, groups, view_table
from datahealth.survey.model import Text


def table(counts: list[list[int]]) -> CountTable:
    rows = [(str(i), Text(ja=f"行{i}")) for i in range(len(counts))]
    return CountTable("t", Text(ja="表"), Text(ja="群"), rows, MET_COLUMNS, counts)


def test_internal_view_shows_everything_with_row_percentages() -> None:
    view = view_table(table([[3, 20], [15, 12], [30, 25]]), "internal")
    assert not view.suppressed
    first = view.rows[0]
    assert [c.count for c in first.cells] == [3, 20] and first.total.count == 23
    assert first.cells[0].percent == pytest.approx(100 * 3 / 23)
    assert first.cells[0].small and not first.cells[1].small
    assert [c.count for c in view.totals.cells] == [48, 57] and view.totals.total.count == 105
    assert view.totals.cells[0].percent == pytest.approx(100 * 48 / 105)


def test_public_view_hides_cells_and_their_percentages() -> None:
    view = view_table(table([[3, 20], [15, 12], [30, 25]]), "public")
    assert view.suppressed
    assert [[c.count for c in row.cells] for row in view.rows] == [[None, None], [None, None], [30, 25]]
    assert [row.total.count for row in view.rows] == [23, 27, 55]  # the group sizes stay
    assert view.rows[0].cells[0].percent is None
    assert view.rows[2].cells[0].percent == pytest.approx(100 * 30 / 55)


def test_percent_is_hidden_with_its_denominator() -> None:
    view = view_table(table([[4, 3], [20, 30]]), "public")
    assert view.rows[0].total.count is None
    assert all(c.percent is None for c in view.rows[0].cells)
    assert view.totals.cells[0].count == 24 and view.totals.cells[0].percent == pytest.approx(100 * 24 / 57)


def test_groups_follow_the_ministry() -> None:
    assert [key for key, _ in groups("band")] == ["20-99", "100-199", "200-299", "300-399", "400-499", "500+"]
    assert len(groups("prefecture")) == 47 and groups("prefecture")[12][1].ja == "東京都"
    assert [key for key, _ in groups("founder")][:2] == ["national", "public"]
