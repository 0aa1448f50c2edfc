"""The store on its own: resend rule branches, history, flags, registry upserts — from hand-built checked frames."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.exchange import spec, synth
from datahealth.exchange.pipeline import FLAGS, LOCATOR, SOURCE, CheckedBatch
from datahealth.exchange.spec_model import Kind, RecordKind
from datahealth.exchange.store import STAGE_PREFIX, store_checked
from datahealth.exchange.tables import Batch, RecordHistory, table_for

NOW = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)


def typed(name: str, frame: pl.DataFrame, flags: list[str] | None = None) -> pl.DataFrame:
    """What the checker hands on: wire strings cast to the spec's types, plus _source/_locator/_flags."""
    record = spec.record_type(name)
    columns = []
    for field in record.fields:
        if field.name not in frame.columns:
            continue
        column = pl.col(field.name)
        if field.kind == Kind.DATETIME:
            column = column.str.strptime(pl.Datetime("us"), "%Y%m%d%H%M%S")
        elif field.kind == Kind.TIMESTAMP:
            column = column.str.strptime(pl.Datetime("us"), "%Y%m%d%H%M%S%3f")
        elif field.kind == Kind.DATE:
            column = column.str.strptime(pl.Date, "%Y%m%d")
        elif field.kind == Kind.INTEGER:
            column = column.cast(pl.Int64)
        elif field.kind == Kind.DECIMAL:
            column = column.cast(pl.Decimal(field.digits, 1))
        columns.append(column.alias(field.name))
    result = frame.select(columns).with_columns(
        pl.lit(f"{name}.csv").alias(SOURCE), pl.format("line {}", pl.int_range(2, pl.len() + 2)).alias(LOCATOR)
    )
    if record.kind == RecordKind.RECORD:
        result = result.with_columns(pl.Series(FLAGS, flags or [""] * result.height, dtype=pl.String))
    return result


def checked(frames: dict[str, pl.DataFrame], flags: dict[str, list[str]] | None = None) -> CheckedBatch:
    typed_frames = {name: typed(name, frame, (flags or {}).get(name)) for name, frame in frames.items()}
    return CheckedBatch(typed_frames, [], {name: frame.height for name, frame in frames.items()})


def new_batch(db: Session, batch_id: str) -> str:
    db.add(
        Batch(
            id=batch_id,
            consortium_id="SYN01",
            channel="cli",
            wire_format="csv",
            sources=[],
            strict=False,
            status="accepted",
            counts={},
        )
    )
    db.flush()
    return batch_id


def rows(db: Session, name: str) -> list[dict[str, Any]]:
    table = table_for(name)
    return [dict(row._mapping) for row in db.execute(select(table).order_by(table.c.id))]


def set_cell(frame: pl.DataFrame, row: int, column: str, value: str | None) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value, dtype=pl.String))
        .otherwise(pl.col(column))
        .alias(column)
    )


@pytest.fixture
def data() -> synth.SynthData:
    return synth.generate(participants=2, days=6, seed=5)


def test_new_records_are_inserted_with_their_types_and_flags(db: Session, data: synth.SynthData) -> None:
    weights = data.records["weight"]
    flags = ["DH-W201" if i == 0 else "" for i in range(weights.height)]
    batch = checked({**data.registries, "weight": weights, "activity": data.records["activity"]}, {"weight": flags})
    counts, issues = store_checked(db, batch, new_batch(db, "b1"), NOW)

    assert issues == []
    assert counts["weight"].stored == weights.height and counts["weight"].flagged == 1
    assert counts["activity"].stored == 12 and counts["participant"].stored == 2 and counts["device"].stored == 6
    stored = rows(db, "weight")
    assert [row["flags"] for row in stored] == flags
    first = stored[0]
    assert first["body_weight"] == Decimal(weights["body_weight"][0])
    assert first["observation_time"] == datetime.strptime(weights["observation_time"][0], "%Y%m%d%H%M%S")
    assert first["update_time"].strftime("%Y%m%d%H%M%S%f")[:17] == weights["update_time"][0]
    assert first["batch_id"] == "b1" and first["stored_at"] == NOW
    activity = rows(db, "activity")
    assert [row["step"] for row in activity] == [int(v) for v in data.records["activity"]["step"]]
    # the staging tables are gone
    leftovers = db.execute(
        text(
            "SELECT name FROM sqlite_temp_master WHERE name LIKE :p"
            if db.get_bind().dialect.name == "sqlite"
            else "SELECT relname FROM pg_class WHERE relname LIKE :p AND relpersistence = 't'"
        ),
        {"p": STAGE_PREFIX + "%"},
    ).all()
    assert leftovers == []


def test_the_same_batch_twice_changes_nothing(db: Session, data: synth.SynthData) -> None:
    batch = checked(data.frames())
    store_checked(db, batch, new_batch(db, "b1"), NOW)
    before = {name: rows(db, name) for name in ("weight", "activity", "hba1c", "participant", "device")}
    counts, issues = store_checked(db, batch, new_batch(db, "b2"), NOW)
    assert issues == []
    for name, frame in data.frames().items():
        assert (counts[name].stored, counts[name].replaced, counts[name].unchanged) == (0, 0, frame.height), name
    assert {name: rows(db, name) for name in before} == before
    assert db.scalar(select(func.count()).select_from(RecordHistory)) == 0


def test_every_resend_branch_in_one_batch(db: Session, data: synth.SynthData) -> None:
    activity = data.records["activity"]
    store_checked(db, checked({"activity": activity}), new_batch(db, "b1"), NOW)
    original = rows(db, "activity")

    resend = activity.head(5)
    resend = set_cell(resend, 0, "step", "9999")  # 0: newer update_time → replaced
    resend = set_cell(resend, 0, "update_time", "20250301090000000")
    resend = set_cell(resend, 1, "step", "1234")  # 1: same update_time, other content → conflict
    resend = set_cell(resend, 2, "update_time", "20240101000000000")  # 2: older → stale
    resend = set_cell(resend, 2, "step", "1")
    # 3: identical → unchanged; 4: a new observation time → new
    resend = set_cell(resend, 4, "observation_time", "20250301000000")
    counts, issues = store_checked(db, checked({"activity": resend}), new_batch(db, "b2"), NOW)

    result = counts["activity"]
    assert (result.stored, result.replaced, result.unchanged, result.stale, result.conflict) == (1, 1, 1, 1, 1)
    assert [(i.code, i.locator, i.field) for i in issues] == [
        ("DH-X202", "line 3", "update_time"),
        ("DH-X201", "line 4", "update_time"),
    ]
    stale = issues[1]
    assert stale.value == "20240101000000000" and stale.rule == activity["update_time"][2]
    assert issues[0].value == issues[0].rule == activity["update_time"][1]
    assert issues[0].severity == stale.severity == "error"

    after = rows(db, "activity")
    assert len(after) == len(original) + 1
    replaced = after[0]
    assert (replaced["id"], replaced["step"], replaced["batch_id"]) == (original[0]["id"], 9999, "b2")
    assert after[1] == original[1] and after[2] == original[2]  # conflict and stale: stored kept
    assert after[-1]["batch_id"] == "b2" and after[-1]["observation_time"] == datetime(2025, 3, 1)

    history = db.scalars(select(RecordHistory)).all()
    assert len(history) == 1
    old = history[0]
    assert (old.record_type, old.record_id, old.batch_id, old.replaced_by) == (
        "activity",
        original[0]["id"],
        "b1",
        "b2",
    )
    assert (old.consortium_id, old.participant_id) == ("SYN01", "P00001")
    assert old.replaced_at == NOW
    sent = activity.row(0, named=True)
    assert old.payload == {**sent, "flags": ""}


def test_history_keeps_every_replaced_version(db: Session, data: synth.SynthData) -> None:
    weight = data.records["weight"].head(1)
    store_checked(db, checked({"weight": weight}), new_batch(db, "b1"), NOW)
    versions = [("70.0", "20250301000000001"), ("71.5", "20250302000000000"), ("72.0", "20250303000000000")]
    for number, (value, update_time) in enumerate(versions, start=2):
        resend = set_cell(set_cell(weight, 0, "body_weight", value), 0, "update_time", update_time)
        counts, _ = store_checked(db, checked({"weight": resend}), new_batch(db, f"b{number}"), NOW)
        assert counts["weight"].replaced == 1
    history = db.scalars(select(RecordHistory).order_by(RecordHistory.id)).all()
    assert [(h.payload["body_weight"], h.batch_id, h.replaced_by) for h in history] == [
        (weight["body_weight"][0], "b1", "b2"),
        ("70.0", "b2", "b3"),  # SQLite keeps 70.0 as 70: the payload still reads as sent
        ("71.5", "b3", "b4"),
    ]
    assert rows(db, "weight")[0]["body_weight"] == Decimal("72.0")


def test_duplicates_within_one_batch_are_refused(db: Session, data: synth.SynthData) -> None:
    activity = data.records["activity"].head(3)
    doubled = pl.concat([activity, activity.slice(1, 1)])
    counts, issues = store_checked(db, checked({"activity": doubled}), new_batch(db, "b1"), NOW)
    assert (counts["activity"].stored, counts["activity"].rejected) == (3, 1)
    assert [(i.code, i.locator, i.value) for i in issues] == [("DH-X120", "line 5", "activity.csv line 3")]


def test_registries_are_upserted_on_identity(db: Session, data: synth.SynthData) -> None:
    store_checked(db, checked(data.registries), new_batch(db, "b1"), NOW)
    participants = data.registries["participant"]
    changed = set_cell(participants, 0, "medication_code", "3")
    added = pl.concat([changed, set_cell(participants.head(1), 0, "participant_id", "P00077")])
    devices = set_cell(data.registries["device"], 2, "measured_items", "walk_time")
    later = datetime(2025, 3, 2, tzinfo=UTC)
    counts, issues = store_checked(db, checked({"participant": added, "device": devices}), new_batch(db, "b2"), later)
    assert issues == []
    assert (counts["participant"].stored, counts["participant"].replaced, counts["participant"].unchanged) == (1, 1, 1)
    assert (counts["device"].stored, counts["device"].replaced, counts["device"].unchanged) == (0, 1, 5)
    stored = {row["participant_id"]: row for row in rows(db, "participant")}
    assert stored["P00001"]["medication_code"] == "3" and stored["P00001"]["updated_at"] == later
    assert stored["P00002"]["updated_at"] == NOW  # unchanged rows keep their time
    assert set(stored) == {"P00001", "P00002", "P00077"}
    assert rows(db, "device")[2]["measured_items"] == "walk_time"


def test_the_consortium_list_makes_organisations(db: Session) -> None:
    frame = pl.DataFrame({"consortium_id": ["SYN01", "SYN02"], "consortium_name": ["一", "二"]})
    counts, _ = store_checked(db, checked({"consortium": frame}), new_batch(db, "b1"), NOW)
    assert counts["consortium"].stored == 2
    renamed = set_cell(frame, 1, "consortium_name", "二（改称）")
    counts, _ = store_checked(db, checked({"consortium": renamed}), new_batch(db, "b2"), NOW)
    assert (counts["consortium"].unchanged, counts["consortium"].replaced) == (1, 1)
    orgs = db.execute(
        select(Organisation.code, Organisation.name).where(Organisation.kind == OrgKind.CONSORTIUM).order_by("code")
    ).all()
    assert orgs == [("SYN01", "一"), ("SYN02", "二（改称）")]


def test_every_record_type_round_trips(db: Session, data: synth.SynthData) -> None:
    """Every stored value reads back as the wire text that was sent (None for absent ▲ values)."""
    from datahealth.exchange.store import stored_payload

    store_checked(db, checked(data.frames()), new_batch(db, "b1"), NOW)
    for record in spec.RECORDS:
        sent = data.records[record.name].to_dicts()
        back = [stored_payload(row, record) for row in rows(db, record.name)]
        assert back == [{f.name: row.get(f.name) for f in record.fields} for row in sent], record.name


def test_a_field_left_out_of_a_newer_version_is_cleared(db: Session, data: synth.SynthData) -> None:
    activity = data.records["activity"].head(2)
    store_checked(db, checked({"activity": activity}), new_batch(db, "b1"), NOW)
    assert rows(db, "activity")[0]["walk_time"] is not None
    newer = activity.drop("walk_time").with_columns(pl.lit("20250301000000000").alias("update_time"))
    counts, _ = store_checked(db, checked({"activity": newer}), new_batch(db, "b2"), NOW)
    assert counts["activity"].replaced == 2
    assert [row["walk_time"] for row in rows(db, "activity")] == [None, None]


def test_the_resend_probe_looks_only_at_each_participants_period(db: Session, data: synth.SynthData) -> None:
    """Rows proven new by the per-participant range probe skip the staging table; any overlap goes through it."""
    from datahealth.exchange.store import _any_stored

    activity = data.records["activity"]  # 2 participants × 6 days
    day = pl.col("observation_time").str.slice(0, 8)
    first_days = activity.filter(day <= "20250108")
    later_days = activity.filter(day >= "20250109")
    store_checked(db, checked({"activity": first_days}), new_batch(db, "b1"), NOW)
    dialect = db.get_bind().dialect
    record = spec.record_type("activity")
    later = typed("activity", later_days)
    assert not _any_stored(db, dialect, record, later)
    assert _any_stored(db, dialect, record, typed("activity", activity.filter(day >= "20250108")))
    counts, issues = store_checked(db, checked({"activity": later_days}), new_batch(db, "b2"), NOW)
    assert (counts["activity"].stored, issues) == (later_days.height, [])
    assert len(rows(db, "activity")) == activity.height
