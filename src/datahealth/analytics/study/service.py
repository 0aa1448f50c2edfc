"""One call from the hub's data to the study's results: snapshot → DuckDB → statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from sqlalchemy.orm import Session

from datahealth.analytics.study import accuracy as accuracy_module
from datahealth.analytics.study import effect, outcomes
from datahealth.analytics.study.engagement import Engagement, engagement
from datahealth.analytics.study.registry import RegisteredStudy, load_study
from datahealth.analytics.study.snapshot import SnapshotRun, connect, update_snapshot
from datahealth.errors import Problem, UserError


@dataclass(frozen=True)
class StudyResults:
    study: RegisteredStudy
    long: pl.DataFrame
    """HbA1c per participant and time point (``outcomes.hba1c_long``)."""
    summary: pl.DataFrame
    estimates: list[effect.Estimate]
    engagement: Engagement
    validation: pl.DataFrame | None
    """The validation rows with error rates (``accuracy.with_errors``), when a validation set was given."""
    accuracy: pl.DataFrame | None
    snapshot: SnapshotRun | None = None


def analyse(
    con: duckdb.DuckDBPyConnection, study: RegisteredStudy, validation: pl.DataFrame | None = None
) -> StudyResults:
    definition = study.definition
    if study.allocation.height == 0:
        raise UserError(Problem("DH-T121", {"value": definition.code}))
    long = outcomes.hba1c_long(con, definition, study.allocation)
    if long.filter(pl.col("value").is_not_null()).height == 0:
        raise UserError(Problem("DH-T121", {"value": definition.code}))
    return StudyResults(
        study=study,
        long=long,
        summary=effect.summary(long, definition),
        estimates=effect.between_arms(long, definition),
        engagement=engagement(con, definition, study.allocation),
        validation=None if validation is None else accuracy_module.with_errors(validation),
        accuracy=None if validation is None else accuracy_module.accuracy(validation),
    )


def run(
    db: Session,
    snapshot_dir: Path,
    *,
    now: datetime,
    code: str | None = None,
    validation_csv: bytes | None = None,
    validation_name: str = "validation.csv",
    rebuild: bool = False,
) -> StudyResults:
    """Bring the snapshot up to date, then analyse the study (the latest registered one by default)."""
    study = load_study(db, code)
    validation = (
        None if validation_csv is None else accuracy_module.read_validation_csv(validation_csv, validation_name)
    )
    snapshot = update_snapshot(db, snapshot_dir, now=now, rebuild=rebuild)
    con = connect(snapshot_dir)
    try:
        results = analyse(con, study, validation)
    finally:
        con.close()
    return StudyResults(**{**results.__dict__, "snapshot": snapshot})
