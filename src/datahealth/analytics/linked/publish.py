"""NDB publication rules for linked-data outputs (privacy by default).

Everything that leaves the analyst role passes through here:

* **Primary suppression**: a count of persons below 10 (``suppression.THRESHOLD``; 0 included, as in
  the project's other published tables) is not shown.
* **Complementary suppression**: a hidden cell must not be recomputable from what is shown.
  - Trajectory tables publish the cohort size *n* and, per cell, the count *k* using a service. The
    cells of a row are not additive (a person uses several services), so no cell can be derived from
    other cells; but *n − k* (the persons *not* using the service) is derivable from the cell and the
    cohort size, so a cell whose complement is 1–9 is hidden as well. A cohort under 10 hides everything.
  - Tables with published margins (count per age band × sex with totals) use
    ``analytics.suppression.suppress``, which hides further cells until no hidden one lies on a bridge
    of the row/column graph (see that module).
* Shares are shown only where their count is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from datahealth.analytics.suppression import THRESHOLD, Suppression, suppress

Cell = tuple[int, int]


def trajectory_hidden(size: int, rows: Sequence[Sequence[int]], threshold: int = THRESHOLD) -> frozenset[Cell]:
    """(row, column) of every cell hidden in a published trajectory table of a cohort of ``size``."""
    cells = [(i, j) for i, row in enumerate(rows) for j in range(len(row))]
    if size < threshold:
        return frozenset(cells)
    hidden = set()
    for i, j in cells:
        k = rows[i][j]
        if k < threshold or 0 < size - k < threshold:
            hidden.add((i, j))
    return frozenset(hidden)


def margin_table(counts: Sequence[Sequence[int]], threshold: int = THRESHOLD) -> Suppression:
    """Primary and complementary suppression of a count table published with its margins."""
    return suppress(counts, threshold)
