"""Small-cell suppression for count tables published outside the ministry.

A table of counts is published with its row totals, column totals and grand total. Every entry —
interior cell or margin — whose count is below the threshold (10; zero included, since "none of the 8
hospitals in this prefecture" discloses each of them) is hidden (*primary* suppression). Hiding one
cell is not enough: with the totals published, a lone hidden cell in a row is the row total minus the
others. *Complementary* suppression therefore hides further cells until no hidden entry can be
recomputed exactly from what is shown.

Why the test below is exact: every entry of the table extended by its margins lies on exactly one row
line and one column line (``cells + … = total``). Draw a graph whose vertices are the lines and whose
edges are the hidden entries. The unknowns can all be shifted together around any cycle of that graph
(+t, −t, … alternately) without changing a single published number, and those cycle shifts are the
only freedom there is (the system is an incidence matrix of a bipartite graph). So a hidden entry can
be recomputed if and only if its edge lies on no cycle — it is a *bridge*. The algorithm adds the
cheapest cell (smallest count, interior cells before margins) that closes a cycle through each bridge,
and repeats until there is none. Protection is against exact recomputation; bounds (a hidden cell is
between 0 and its row total) remain, as in any suppressed table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

THRESHOLD = 10
"""Counts below this are hidden in anything published outside the ministry."""

Entry = tuple[int, int]


@dataclass(frozen=True)
class Suppression:
    """Which entries of a count table are hidden. Index ``rows`` / ``cols`` are the margins."""

    rows: int
    cols: int
    hidden: frozenset[Entry]
    primary: frozenset[Entry]

    def cell(self, row: int, col: int) -> bool:
        return (row, col) in self.hidden

    def row_total(self, row: int) -> bool:
        return (row, self.cols) in self.hidden

    def col_total(self, col: int) -> bool:
        return (self.rows, col) in self.hidden

    @property
    def total(self) -> bool:
        return (self.rows, self.cols) in self.hidden

    @property
    def any(self) -> bool:
        return bool(self.hidden)


def extended(counts: Sequence[Sequence[int]]) -> list[list[int]]:
    """The table with its row totals (last column), column totals (last row) and grand total."""
    width = len(counts[0]) if counts else 0
    rows = [[*row, sum(row)] for row in counts]
    totals = [sum(row[j] for row in rows) for j in range(width + 1)]
    return [*rows, totals]


def suppress(counts: Sequence[Sequence[int]], threshold: int = THRESHOLD, *, hide_zero: bool = True) -> Suppression:
    """Primary and complementary suppression of a table published with all its margins."""
    if not counts or not counts[0]:
        return Suppression(len(counts), 0, frozenset(), frozenset())
    if any(len(row) != len(counts[0]) for row in counts):
        raise ValueError("every row of a count table must have the same number of cells")
    table = extended(counts)
    n_rows, n_cols = len(counts), len(counts[0])

    def small(value: int) -> bool:
        return value < threshold and (hide_zero or value > 0)

    primary = {(i, j) for i in range(n_rows + 1) for j in range(n_cols + 1) if small(table[i][j])}
    hidden = set(primary)
    while True:
        addition = _lone_entry_fix(table, hidden, n_rows, n_cols) or _bridge_fix(table, hidden, n_rows, n_cols)
        if addition is None:
            break
        hidden.add(addition)
    return Suppression(n_rows, n_cols, frozenset(hidden), frozenset(primary))


def _cost(table: list[list[int]], entry: Entry, n_rows: int, n_cols: int) -> tuple[bool, int, int, int]:
    i, j = entry
    return (i == n_rows or j == n_cols, table[i][j], i, j)


def _lone_entry_fix(table: list[list[int]], hidden: set[Entry], n_rows: int, n_cols: int) -> Entry | None:
    """A line with exactly one hidden entry: hide the cheapest other entry of that line."""
    lines = [[(i, j) for j in range(n_cols + 1)] for i in range(n_rows + 1)]
    lines += [[(i, j) for i in range(n_rows + 1)] for j in range(n_cols + 1)]
    for line in lines:
        if sum(1 for entry in line if entry in hidden) == 1:
            options = [entry for entry in line if entry not in hidden]
            return min(options, key=lambda e: _cost(table, e, n_rows, n_cols))
    return None


def _bridge_fix(table: list[list[int]], hidden: set[Entry], n_rows: int, n_cols: int) -> Entry | None:
    """A hidden entry on no cycle: hide the cheapest entry that closes a cycle through it."""
    by_row: dict[int, set[int]] = {}
    by_col: dict[int, set[int]] = {}
    for i, j in hidden:
        by_row.setdefault(i, set()).add(j)
        by_col.setdefault(j, set()).add(i)
    for edge in sorted(hidden):
        rows_a, cols_a = _reachable(by_row, by_col, edge, row=edge[0])
        if edge[1] in cols_a:
            continue  # another path joins the two lines: the edge is on a cycle
        rows_b, _cols_b = _reachable(by_row, by_col, edge, col=edge[1])
        options = [(r, c) for r in rows_b for c in cols_a if (r, c) not in hidden]
        if options:
            return min(options, key=lambda e: _cost(table, e, n_rows, n_cols))
    return None


def _reachable(
    by_row: dict[int, set[int]],
    by_col: dict[int, set[int]],
    skip: Entry,
    *,
    row: int | None = None,
    col: int | None = None,
) -> tuple[set[int], set[int]]:
    """Row and column lines connected to the start line through hidden entries other than ``skip``."""
    rows: set[int] = set() if row is None else {row}
    cols: set[int] = set() if col is None else {col}
    frontier: list[tuple[str, int]] = [("r", row)] if row is not None else [("c", col)] if col is not None else []
    while frontier:
        kind, index = frontier.pop()
        if kind == "r":
            for j in by_row.get(index, ()):
                if (index, j) != skip and j not in cols:
                    cols.add(j)
                    frontier.append(("c", j))
        else:
            for i in by_col.get(index, ()):
                if (i, index) != skip and i not in rows:
                    rows.add(i)
                    frontier.append(("r", i))
    return rows, cols


def recomputable(counts: Sequence[Sequence[int]], hidden: frozenset[Entry] | set[Entry]) -> set[Entry]:
    """Hidden entries that can be recomputed exactly from the shown ones (for tests and audits).

    Independent of the graph argument above: Gaussian elimination over the rationals on the
    table's line equations, restricted to the hidden entries. An entry is determined exactly when its
    column is not a linear combination of the other hidden entries' columns.
    """
    n_rows, n_cols = len(counts), len(counts[0])
    order = sorted(hidden)
    equations: list[list[Fraction]] = []
    for i in range(n_rows + 1):
        equations.append([Fraction(_sign(e, i, None, n_rows, n_cols)) for e in order])
    for j in range(n_cols + 1):
        equations.append([Fraction(_sign(e, None, j, n_rows, n_cols)) for e in order])
    full = _rank(equations)
    found: set[Entry] = set()
    for k, entry in enumerate(order):
        without = [row[:k] + row[k + 1 :] for row in equations]
        if _rank(without) < full:
            found.add(entry)
    return found


def _sign(entry: Entry, row: int | None, col: int | None, n_rows: int, n_cols: int) -> int:
    i, j = entry
    if row is not None:
        if i != row:
            return 0
        return -1 if j == n_cols else 1
    if j != col:
        return 0
    return -1 if i == n_rows else 1


def _rank(matrix: list[list[Fraction]]) -> int:
    rows = [list(row) for row in matrix]
    rank, width = 0, len(rows[0]) if rows else 0
    for col in range(width):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for r in range(len(rows)):
            if r != rank and rows[r][col] != 0:
                factor = rows[r][col] / rows[rank][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[rank], strict=True)]
        rank += 1
    return rank
