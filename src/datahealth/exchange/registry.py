"""What the checker needs to know of the registries (事前登録が必要となる情報), as polars frames.

``load_registry`` reads the stored registries with SQL; ``merge_registry`` adds the registry rows a
batch itself carries, so that a batch may register participants (devices, labs …) and send their
records at once. In a merge the batch's version of an entry wins over the stored one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.exchange import spec
from datahealth.exchange.pipeline import CheckedBatch
from datahealth.exchange.tables import table_for

PARTICIPANTS_SCHEMA: dict[str, Any] = {
    "consortium_id": pl.String,
    "participant_id": pl.String,
    "participation_start_date": pl.Date,
    "participation_end_date": pl.Date,
}
DEVICES_SCHEMA: dict[str, Any] = {
    "model_manufacturer_code": pl.String,
    "model_number": pl.String,
    "device_category_code": pl.String,
    "measured_items": pl.String,
}
LABS_SCHEMA: dict[str, Any] = {"consortium_id": pl.String, "lab_id": pl.String}
METHODS_SCHEMA: dict[str, Any] = {"method_code": pl.String}


@dataclass
class RegistrySnapshot:
    """The registry entries records may refer to (identity columns plus what the rules need)."""

    consortia: frozenset[str]
    participants: pl.DataFrame
    """consortium_id, participant_id, participation_start_date, participation_end_date (Date, null = open)."""
    devices: pl.DataFrame
    """model_manufacturer_code, model_number, device_category_code, measured_items."""
    labs: pl.DataFrame
    """consortium_id, lab_id."""
    methods: pl.DataFrame
    """method_code."""

    @classmethod
    def empty(cls) -> RegistrySnapshot:
        return cls(
            frozenset(),
            pl.DataFrame(schema=PARTICIPANTS_SCHEMA),
            pl.DataFrame(schema=DEVICES_SCHEMA),
            pl.DataFrame(schema=LABS_SCHEMA),
            pl.DataFrame(schema=METHODS_SCHEMA),
        )


def load_registry(db: Session, consortium_ids: Iterable[str] | None = None) -> RegistrySnapshot:
    """The stored registries: consortia (organisations of kind consortium), their participants and labs,
    and every device and HbA1c method (shared by all consortia). ``None`` loads every consortium."""
    wanted = None if consortium_ids is None else sorted(set(consortium_ids))
    query = select(Organisation.code).where(Organisation.kind == OrgKind.CONSORTIUM.value)
    if wanted is not None:
        query = query.where(Organisation.code.in_(wanted))
    consortia = frozenset(db.scalars(query))
    return RegistrySnapshot(
        consortia,
        _frame(db, spec.PARTICIPANT.name, PARTICIPANTS_SCHEMA, wanted),
        _frame(db, spec.DEVICE.name, DEVICES_SCHEMA, None),
        _frame(db, spec.LAB.name, LABS_SCHEMA, wanted),
        _frame(db, spec.HBA1C_METHOD.name, METHODS_SCHEMA, None),
    )


def _frame(db: Session, record_type: str, schema: dict[str, Any], consortia: list[str] | None) -> pl.DataFrame:
    table = table_for(record_type)
    query = select(*(table.c[name] for name in schema))
    if consortia is not None:
        query = query.where(table.c["consortium_id"].in_(consortia))
    rows = [tuple(row) for row in db.execute(query)]
    return pl.DataFrame(rows, schema=schema, orient="row")


def merge_registry(snapshot: RegistrySnapshot, checked: CheckedBatch) -> RegistrySnapshot:
    """The snapshot plus the valid registry rows of ``checked`` (the batch's entries replace stored ones)."""
    frames = checked.frames
    merged = snapshot
    consortium = frames.get(spec.CONSORTIUM.name)
    if consortium is not None and consortium.height:
        merged = replace(merged, consortia=merged.consortia | frozenset(consortium["consortium_id"].to_list()))
    updates = (
        ("participants", spec.PARTICIPANT, PARTICIPANTS_SCHEMA),
        ("devices", spec.DEVICE, DEVICES_SCHEMA),
        ("labs", spec.LAB, LABS_SCHEMA),
        ("methods", spec.HBA1C_METHOD, METHODS_SCHEMA),
    )
    for attribute, record, schema in updates:
        frame = frames.get(record.name)
        if frame is None or frame.height == 0:
            continue
        incoming = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).unique(
            subset=list(record.identity), keep="last", maintain_order=True
        )
        current: pl.DataFrame = getattr(merged, attribute)
        kept = current.join(incoming, on=list(record.identity), how="anti", maintain_order="left")
        combined = pl.concat([kept, incoming], how="vertical")
        merged = replace(merged, **{attribute: combined})  # type: ignore[arg-type]  # attribute names a frame field
    return merged
