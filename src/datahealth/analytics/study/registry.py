"""Register a study (definition + allocation) in the database and read it back for analysis.

The allocation is either read from a CSV (``consortium_id,participant_id,arm``; every row checked,
all problems reported as DH-T104, nothing stored on any error) or generated once, at registration,
by stratified permuted blocks from the definition's seed over the participants registered for the
study's consortia. It is never redrawn: re-registering needs ``replace=True``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from datahealth.analytics.study.model import StudyDefinition, parse_definition
from datahealth.analytics.study.tables import Study, StudyAllocation
from datahealth.errors import Conflict, NotFound, Problem, UserError, ValidationFailed
from datahealth.exchange.tables import table_for

ALLOCATION_COLUMNS = ("consortium_id", "participant_id", "arm")
UNCLASSIFIED = "unclassified"
"""The stratum of participants whose registry code is in no group (reported, never dropped silently)."""


@dataclass(frozen=True)
class RegisteredStudy:
    definition: StudyDefinition
    allocation: pl.DataFrame
    """consortium_id, participant_id, arm."""
    registered_at: datetime
    allocation_source: str


def participants_of(db: Session, definition: StudyDefinition) -> pl.DataFrame:
    """consortium_id, participant_id and the stratum field of the study's consortia (registry order)."""
    table = table_for("participant")
    field = definition.strata.field
    query = (
        select(table.c.consortium_id, table.c.participant_id, table.c[field])
        .where(table.c.consortium_id.in_(definition.consortia))
        .order_by(table.c.consortium_id, table.c.participant_id)
    )
    rows = [tuple(row) for row in db.execute(query)]
    return pl.DataFrame(
        rows, schema={"consortium_id": pl.String, "participant_id": pl.String, field: pl.String}, orient="row"
    )


def generate_allocation(definition: StudyDefinition, participants: pl.DataFrame) -> pl.DataFrame:
    """Stratified permuted blocks: within each stratum, blocks holding every arm equally often, shuffled."""
    arms = [arm.code for arm in definition.arms]
    per_block = max(1, definition.allocation.block_size // len(arms))
    rng = np.random.default_rng(definition.allocation.seed)
    strata = [definition.stratum_of(code) or UNCLASSIFIED for code in participants[definition.strata.field].to_list()]
    assigned: list[str] = [""] * participants.height
    for stratum in sorted(set(strata)):
        members = [i for i, s in enumerate(strata) if s == stratum]
        blocks = -(-len(members) // (per_block * len(arms)))
        sequence: list[str] = []
        for _ in range(blocks):
            block = arms * per_block
            sequence += [block[i] for i in rng.permutation(len(block))]
        for index, arm in zip(members, sequence, strict=False):
            assigned[index] = arm
    return participants.select("consortium_id", "participant_id").with_columns(arm=pl.Series(assigned))


def read_allocation_csv(
    content: bytes, definition: StudyDefinition, participants: pl.DataFrame, source: str
) -> pl.DataFrame:
    """The allocation file, every row checked (DH-T111 missing column, DH-T104 bad row)."""
    text = content.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    missing = [name for name in ALLOCATION_COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(*(Problem("DH-T111", {"source": source}, field=name) for name in missing))
    arms = {arm.code for arm in definition.arms}
    known = set(zip(participants["consortium_id"].to_list(), participants["participant_id"].to_list(), strict=True))
    seen: set[tuple[str, str]] = set()
    rows: list[tuple[str, str, str]] = []
    problems: list[Problem] = []
    for line, row in enumerate(reader, start=2):
        key = ((row.get("consortium_id") or "").strip(), (row.get("participant_id") or "").strip())
        arm = (row.get("arm") or "").strip()

        def bad(field: str, detail: str, value: str, line: int = line) -> None:
            params = {"source": source, "detail": detail, "value": value}
            problems.append(Problem("DH-T104", params, row=line, field=field))

        if key not in known:
            bad("participant_id", "参加者リストにない参加者 / not in the participant list", "/".join(key))
        elif key in seen:
            bad("participant_id", "重複 / listed twice", "/".join(key))
        if arm not in arms:
            bad("arm", f"群は {', '.join(sorted(arms))} のいずれか / arm must be one of them", arm)
        seen.add(key)
        rows.append((*key, arm))
    if problems:
        raise ValidationFailed(*problems[:200])
    if not rows:
        raise ValidationFailed(Problem("DH-T115", {"source": source}, field="allocation"))
    return pl.DataFrame(rows, schema=dict.fromkeys(ALLOCATION_COLUMNS, pl.String), orient="row")


def register_study(
    db: Session,
    definition: StudyDefinition,
    *,
    now: datetime,
    by: str = "",
    allocation_csv: bytes | None = None,
    allocation_name: str = "allocation.csv",
    replace: bool = False,
) -> RegisteredStudy:
    """Store the definition and its allocation (generated unless a CSV is given). The caller commits."""
    existing = db.scalar(select(Study).where(Study.code == definition.code))
    if existing is not None and not replace:
        raise Conflict(Problem("DH-T103", {"value": definition.code}))
    participants = participants_of(db, definition)
    if allocation_csv is not None:
        allocation = read_allocation_csv(allocation_csv, definition, participants, allocation_name)
        source = allocation_name[:200]
    elif definition.allocation.method == "file":
        raise UserError(Problem("DH-T115", {"source": definition.code}, field="allocation file / 割付ファイル"))
    else:
        if participants.height == 0:
            raise UserError(Problem("DH-T105", {"value": definition.code}))
        allocation = generate_allocation(definition, participants)
        source = f"generated seed={definition.allocation.seed} block={definition.allocation.block_size}"
    if existing is not None:
        db.execute(delete(StudyAllocation).where(StudyAllocation.study_id == existing.id))
        db.delete(existing)
        db.flush()
    study = Study(
        code=definition.code,
        definition=definition.model_dump(mode="json"),
        registered_at=now,
        registered_by=by[:100],
        allocation_source=source,
    )
    db.add(study)
    db.flush()
    rows = [{"study_id": study.id, **row} for row in allocation.iter_rows(named=True)]
    for start in range(0, len(rows), 5_000):
        db.execute(insert(StudyAllocation), rows[start : start + 5_000])
    return RegisteredStudy(definition, allocation, now, source)


def load_study(db: Session, code: str | None = None) -> RegisteredStudy:
    """A registered study (by code; by default the latest registered) with its allocation."""
    query = select(Study).order_by(Study.registered_at.desc(), Study.id.desc())
    if code is not None:
        query = query.where(Study.code == code)
    study = db.scalars(query.limit(1)).first()
    if study is None:
        raise NotFound(Problem("DH-T102", {"value": code or "-"}))
    definition = parse_definition(study.definition, f"study {study.code}")
    rows = db.execute(
        select(StudyAllocation.consortium_id, StudyAllocation.participant_id, StudyAllocation.arm)
        .where(StudyAllocation.study_id == study.id)
        .order_by(StudyAllocation.id)
    )
    allocation = pl.DataFrame(
        [tuple(row) for row in rows], schema=dict.fromkeys(ALLOCATION_COLUMNS, pl.String), orient="row"
    )
    return RegisteredStudy(definition, allocation, study.registered_at, study.allocation_source)
