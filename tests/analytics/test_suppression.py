"""Small-cell suppression: hand-computed tables, and no hidden cell recomputable from what is shown."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from datahealth.analytics.suppression import THRESHOLD, extended, recomputable, suppress


def test_threshold_is_ten() -> None:
    assert THRESHOLD == 10


def test_lone_small_cell_takes_complements_in_its_row_and_column() -> None:
    # 3 | 20 | 23      Primary: the 3. Row 0 then hides its cheapest other cell (20); column 0 its
    # 15 | 12 | 27     cheapest (15); column 1 then has the 20 alone, so it hides the 12. Four hidden
    # 30 | 25 | 55     cells form a rectangle: every row and column total still holds for any shift
    # 48 | 57 | 105    (+t, −t, +t, −t) of the four, so none can be worked out.
    counts = [[3, 20], [15, 12], [30, 25]]
    result = suppress(counts)
    assert result.primary == {(0, 0)}
    assert result.hidden == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert not result.row_total(0) and not result.col_total(0) and not result.total
    assert recomputable(counts, result.hidden) == set()


def test_small_group_total_is_hidden_with_its_complements() -> None:
    # 4 | 3 | 7        Row 0 is a group of 7 hospitals: 4, 3 and the total 7 are primary.
    # 20 | 30 | 50     Column 0 then hides 20 (an interior cell is cheaper than a total), column 1
    # 24 | 33 | 57     hides 30, and the row-total column hides 50 (50 < 57). Column totals stay.
    counts = [[4, 3], [20, 30]]
    result = suppress(counts)
    assert result.primary == {(0, 0), (0, 1), (0, 2)}
    assert result.hidden == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)}
    assert [result.col_total(0), result.col_total(1), result.total] == [False, False, False]
    assert recomputable(counts, result.hidden) == set()


def test_bridge_between_two_protected_blocks_is_closed() -> None:
    # After the row/column rule the hidden cells form two cycles joined by the single cell (0, 3):
    # row 0's equation then gives it exactly. The cheapest cell linking the two blocks, (2, 0) = 25,
    # is hidden as well.
    counts = [[12, 25, 25, 1], [60, 12, 40, 12], [25, 12, 60, 1], [1, 60, 1, 60]]
    result = suppress(counts)
    assert result.primary == {(0, 3), (2, 3), (3, 0), (3, 2)}
    assert result.hidden == {(0, 0), (0, 2), (0, 3), (1, 1), (1, 3), (2, 0), (2, 1), (2, 3), (3, 0), (3, 2)}
    without_last = result.hidden - {(2, 0)}
    assert (0, 3) in recomputable(counts, without_last)  # what the last step prevents
    assert recomputable(counts, result.hidden) == set()


def test_zero_is_a_small_cell_unless_told_otherwise() -> None:
    counts = [[0, 25], [30, 40]]
    assert (0, 0) in suppress(counts).primary
    assert suppress(counts, hide_zero=False).hidden == frozenset()


def test_nothing_small_nothing_hidden() -> None:
    assert suppress([[10, 25], [30, 40]]).hidden == frozenset()


def test_extended_adds_margins() -> None:
    assert extended([[1, 2], [3, 4]]) == [[1, 2, 3], [3, 4, 7], [4, 6, 10]]


cells = st.integers(min_value=0, max_value=40)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda cols: st.lists(st.lists(cells, min_size=cols, max_size=cols), min_size=1, max_size=6)
    )
)
def test_no_hidden_entry_can_be_recomputed(counts: list[list[int]]) -> None:
    result = suppress(counts)
    full = extended(counts)
    for i, row in enumerate(full):
        for j, value in enumerate(row):
            if value < THRESHOLD:
                assert (i, j) in result.hidden
    assert recomputable(counts, result.hidden) == set()
