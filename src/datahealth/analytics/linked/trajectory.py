"""Trajectories around an index event: per month −before … +after, the share of the cohort using each service.

One Ibis expression (``trajectory_expr``) runs unchanged on DuckDB and Spark. Its shape follows the
design note "filter to the cohort before counting distinct persons":

1. index events → first month per person (``min``);
2. the cohort: persons enrolled from ``index − max(before, washout)`` to ``index + after`` (so the index
   really is the first event in the washout and every month of the window is observed);
3. each service's events are semi-joined to the cohort *first*, reduced to (service, person, offset)
   inside the window and made distinct; only then counted per (service, offset).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd
from ibis.expr.types import BooleanValue, Table

from datahealth.analytics.linked.cohort import Cohort, EventDefinition
from datahealth.analytics.linked.engines import LinkedTables


@dataclass(frozen=True)
class Trajectory:
    cohort: Cohort
    size: int
    counts: dict[str, dict[int, int]]  # service key -> offset -> persons
    engine: str

    def share(self, service: str, offset: int) -> float:
        return self.counts[service][offset] / self.size if self.size else 0.0

    def rows(self) -> list[tuple[int, list[int]]]:
        """(offset, [count per service in cohort order]) in the seed's layout (months down, services across)."""
        return [(o, [self.counts[s.key][o] for s in self.cohort.services]) for o in self.cohort.offsets]


def _predicate(table: Table, event: EventDefinition) -> BooleanValue | None:
    conditions: list[BooleanValue] = []
    for column, value in event.where.items():
        if isinstance(value, list):
            conditions.append(table[column].isin(value))
        else:
            conditions.append(table[column] == value)
    if event.icd10:
        code = table["icd10"]
        prefixes = [code.startswith(prefix) for prefix in event.icd10]
        conditions.append(ibis.or_(*prefixes))
    return ibis.and_(*conditions) if conditions else None


def events(tables: LinkedTables, event: EventDefinition) -> Table:
    table = tables[event.source]
    predicate = _predicate(table, event)
    selected = table.filter(predicate) if predicate is not None else table
    return selected.select("pid", "month")


def cohort_expr(tables: LinkedTables, cohort: Cohort) -> Table:
    """pid, index_month of the persons in the cohort."""
    first = events(tables, cohort.index).group_by("pid").aggregate(index_month=ibis._.month.min())
    persons = tables["persons"]
    lookback = max(cohort.before, cohort.washout_months)
    joined = first.join(persons, "pid")
    enrolled = joined.filter(
        (joined.enrol_start <= joined.index_month - lookback) & (joined.enrol_end >= joined.index_month + cohort.after)
    )
    return enrolled.select("pid", "index_month")


def trajectory_expr(tables: LinkedTables, cohort: Cohort) -> tuple[Table, Table]:
    """(cohort size, counts per service and offset) as Ibis expressions."""
    members = cohort_expr(tables, cohort)
    parts = []
    for service in cohort.services:
        used = events(tables, service)
        near = used.join(members, "pid")
        offset = (near.month - near.index_month).name("offset")
        windowed = near.select(service=ibis.literal(service.key), pid=near.pid, offset=offset)
        windowed = windowed.filter((windowed.offset >= -cohort.before) & (windowed.offset <= cohort.after))
        parts.append(windowed.distinct())
    union = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    counts = union.group_by(["service", "offset"]).aggregate(persons=ibis._.count())
    size = members.aggregate(size=ibis._.count())
    return size, counts.order_by(["service", "offset"])


def run_trajectory(tables: LinkedTables, cohort: Cohort) -> Trajectory:
    size_expr, counts_expr = trajectory_expr(tables, cohort)
    size = int(tables.backend.execute(size_expr)["size"].iloc[0])
    frame: pd.DataFrame = tables.backend.execute(counts_expr)
    counts = {s.key: dict.fromkeys(cohort.offsets, 0) for s in cohort.services}
    for service, offset, persons in frame.itertuples(index=False):
        counts[str(service)][int(offset)] = int(persons)
    return Trajectory(cohort, size, counts, tables.engine)
