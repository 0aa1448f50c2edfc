"""Trajectories around an index event: per month −before … +after, the share of the cohort using each service.

One Ibis expression (``trajectory_expr``) runs unchanged on DuckDB and Spark. Its shape follows the
design note "filter to the cohort before counting distinct persons":

1. index events → first month per person (``min``);
2. the cohort: persons enrolled from ``index − max(before, washout)`` to ``index + after`` (so the index
   really is the first event in the washout and every month of the window is observed);
3. per source table, the rows matching any service are joined to the (small) cohort *first*, kept inside
   the window and reduced to one row per (person, month) with a flag per service; only then counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd
from ibis.expr.types import BooleanValue, Table

from datahealth.analytics.linked.cohort import Cohort, EventDefinition, ServiceDefinition
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


def trajectory_expr(tables: LinkedTables, cohort: Cohort) -> tuple[Table, list[tuple[list[str], Table]]]:
    """(cohort size, [(service keys, counts per offset)] per source table) as Ibis expressions.

    Per source table: rows matching any of its services → joined to the cohort → offset window → one row
    per (person, month) with a 0/1 flag per service (``max``) → summed per offset. One scan and one join
    per source, however many services.
    """
    members = tables.materialise(cohort_expr(tables, cohort))  # small, used once per source and for the size
    by_source: dict[str, list[ServiceDefinition]] = {}
    keys: dict[str, list[str]] = {}
    for service in cohort.services:
        by_source.setdefault(service.source, []).append(service)
        keys.setdefault(service.source, []).append(service.key)
    parts: list[tuple[list[str], Table]] = []
    for source, services in by_source.items():
        table = tables[source]
        predicates = [_predicate(table, service) for service in services]
        relevant = table if any(p is None for p in predicates) else table.filter(ibis.or_(*predicates))
        near = relevant.join(members, "pid")
        near = near.mutate(offset=(near.month - near.index_month))
        near = near.filter((near.offset >= -cohort.before) & (near.offset <= cohort.after))
        flags = {}
        for n, service in enumerate(services):
            predicate = _predicate(near, service)
            flags[f"s{n}"] = ibis.ifelse(near.pid.notnull() if predicate is None else predicate, 1, 0).max()
        per_person = near.group_by(["pid", "offset"]).aggregate(**flags)
        counts = per_person.group_by("offset").aggregate(**{name: per_person[name].sum() for name in flags})
        parts.append((keys[source], counts.order_by("offset")))
    size = members.aggregate(size=ibis._.count())
    return size, parts


def run_trajectory(tables: LinkedTables, cohort: Cohort) -> Trajectory:
    size_expr, parts = trajectory_expr(tables, cohort)
    size = int(tables.backend.execute(size_expr)["size"].iloc[0])
    counts = {s.key: dict.fromkeys(cohort.offsets, 0) for s in cohort.services}
    for service_keys, expr in parts:
        frame: pd.DataFrame = tables.backend.execute(expr)
        for row in frame.itertuples(index=False):
            offset = int(row[0])
            for key, value in zip(service_keys, row[1:], strict=True):
                counts[key][offset] = int(value)
    return Trajectory(cohort, size, counts, tables.engine)
