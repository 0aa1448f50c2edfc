"""ingest(): read → check → store, atomic batches, strict mode, idempotency, permissions, error reports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.errors import NotFound, UnsupportedMediaType
from datahealth.exchange import service, synth
from datahealth.exchange.service import IngestResult, Sender, Upload, ingest, issues_csv
from datahealth.exchange.tables import Batch, BatchIssue, RecordHistory, table_for

SECRETARIAT = Sender(None, "user:admin")


def now_for(data: synth.SynthData) -> datetime:
    return datetime.combine(data.end + timedelta(days=1), time(3), tzinfo=UTC)


def count(db: Session, name: str) -> int:
    return db.scalar(select(func.count()).select_from(table_for(name))) or 0


def batches(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Batch)) or 0


def uploads(files: list[tuple[str, bytes]]) -> list[Upload]:
    return [Upload(name, data) for name, data in files]


def register(db: Session, data: synth.SynthData) -> IngestResult:
    result = ingest(db, SECRETARIAT, uploads(synth.csv_files(data, records=False)), channel="cli", now=now_for(data))
    assert result.status == "accepted", [issue.message("en") for issue in result.issues]
    db.commit()
    return result


def send_records(db: Session, data: synth.SynthData, sender: Sender = SECRETARIAT, **options: Any) -> IngestResult:
    files = uploads(synth.csv_files(data, registries=False))
    return ingest(db, sender, files, channel="cli", now=now_for(data), **options)


def stored_rows(db: Session, name: str) -> list[tuple[Any, ...]]:
    table = table_for(name)
    return [tuple(row) for row in db.execute(select(table).order_by(table.c.id))]


@pytest.fixture
def clean() -> synth.SynthData:
    return synth.generate(participants=3, days=20, consortia=("SYN01", "SYN02"), seed=3)


@pytest.fixture
def planted() -> synth.SynthData:
    return synth.generate(participants=3, days=20, consortia=("SYN01", "SYN02"), seed=4, errors=True)


def test_a_csv_batch_reports_exactly_the_planted_problems(db: Session, planted: synth.SynthData) -> None:
    register(db, planted)
    result = send_records(db, planted)
    db.commit()

    found = sorted((i.record_type, i.source, i.locator, i.code) for i in result.issues)
    truth = sorted((p.record_type, f"{p.record_type}.csv", p.csv_locator, p.code) for p in planted.planted)
    assert found == truth
    assert result.status == "partial" and result.duplicate_of is None
    for name, frame in planted.records.items():
        errors = sum(1 for p in planted.errors if p.record_type == name)
        flags = sum(1 for p in planted.flags if p.record_type == name)
        counts = result.counts[name]
        assert (counts["received"], counts["rejected"], counts["flagged"]) == (frame.height, errors, flags), name
        assert counts["stored"] == frame.height - errors == count(db, name)

    batch = db.get(Batch, result.batch_id)
    assert batch is not None
    assert (batch.status, batch.counts, batch.channel, batch.consortium_id) == ("partial", result.counts, "cli", "")
    assert batch.sources == [f"{name}.csv" for name in planted.records]
    issue_rows = db.scalars(select(BatchIssue).where(BatchIssue.batch_id == batch.id)).all()
    assert sorted((i.code, i.locator) for i in issue_rows) == sorted((i.code, i.locator) for i in result.issues)
    flagged = db.execute(select(table_for("weight").c.flags).where(table_for("weight").c.flags != "")).scalars().all()
    assert flagged == ["DH-W201"]


def test_json_messages_report_json_pointers(db: Session, planted: synth.SynthData) -> None:
    register(db, planted)
    messages = uploads(list(synth.json_messages(planted, datetime(2025, 2, 1, 9))))
    result = ingest(db, SECRETARIAT, messages, channel="api", now=now_for(planted))
    found = sorted((i.record_type, i.source, i.locator, i.code) for i in result.issues)
    truth = sorted(
        (p.record_type, f"{p.consortium_id}-{p.participant_id}.json", p.json_pointer, p.code) for p in planted.planted
    )
    assert found == truth
    assert db.get(Batch, result.batch_id).wire_format == "json"  # type: ignore[union-attr]
    assert count(db, "activity") == planted.records["activity"].height - sum(
        1 for p in planted.errors if p.record_type == "activity"
    )


def test_registries_and_records_in_one_batch(db: Session, clean: synth.SynthData) -> None:
    result = ingest(db, SECRETARIAT, uploads(synth.csv_files(clean)), channel="cli", now=now_for(clean))
    assert result.status == "accepted", [i.message("en") for i in result.issues]
    assert result.counts["participant"]["stored"] == 6 and result.counts["consortium"]["stored"] == 2
    assert count(db, "activity") == clean.records["activity"].height


def test_resending_a_batch_without_a_key_changes_nothing(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    first = send_records(db, clean)
    db.commit()
    before = {name: stored_rows(db, name) for name in clean.records}
    second = send_records(db, clean)
    db.commit()
    assert first.status == second.status == "accepted"
    assert second.batch_id != first.batch_id and second.duplicate_of is None
    for name, frame in clean.records.items():
        assert second.counts[name]["unchanged"] == frame.height
        assert second.counts[name]["stored"] == second.counts[name]["replaced"] == 0
    assert {name: stored_rows(db, name) for name in clean.records} == before
    assert db.scalar(select(func.count()).select_from(RecordHistory)) == 0


def test_an_idempotency_key_returns_the_first_result(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    sender = Sender("SYN01", "token:1")
    mine = clean.records["weight"].filter(pl.col("consortium_id") == "SYN01")
    files = [Upload("weight.csv", synth.csv_bytes(mine))]
    first = ingest(db, sender, files, channel="api", idempotency_key="k-1", now=now_for(clean))
    db.commit()
    total = batches(db)
    again = ingest(db, sender, files, channel="api", idempotency_key="k-1", now=now_for(clean))
    assert again.duplicate_of == first.batch_id == again.batch_id
    assert (again.status, again.counts) == (first.status, first.counts)
    assert [(i.severity, i.code, i.value) for i in again.issues] == [("info", "DH-X204", first.batch_id)]
    assert batches(db) == total  # no new batch row, nothing stored
    other = ingest(
        db,
        Sender("SYN02", "token:2"),
        [Upload("weight.csv", b"")],
        channel="api",
        idempotency_key="k-1",
        now=now_for(clean),
    )
    assert other.duplicate_of is None and other.batch_id != first.batch_id  # keys are per consortium


def test_strict_mode_stores_nothing_when_anything_is_wrong(db: Session, planted: synth.SynthData) -> None:
    register(db, planted)
    result = send_records(db, planted, strict=True)
    db.commit()
    assert result.status == "rejected"
    assert result.issues[-1].code == "DH-X203"
    assert result.issues[-1].params["count"] == len(planted.errors)
    for name, frame in planted.records.items():
        assert count(db, name) == 0
        counts = result.counts[name]
        assert (counts["received"], counts["rejected"], counts["stored"], counts["flagged"]) == (
            frame.height,
            frame.height,
            0,
            0,
        )
    batch = db.get(Batch, result.batch_id)
    assert batch is not None and batch.status == "rejected" and batch.strict
    assert db.scalar(select(func.count()).select_from(BatchIssue).where(BatchIssue.batch_id == batch.id)) == len(
        result.issues
    )


def test_strict_mode_accepts_a_clean_batch(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    result = send_records(db, clean, strict=True)
    assert result.status == "accepted" and count(db, "activity") == clean.records["activity"].height


def test_strict_mode_rolls_back_earlier_chunks(
    db: Session, planted: synth.SynthData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in a late chunk of a streamed file undoes the chunks already written."""
    monkeypatch.setattr(service, "CHUNK_ROWS", 40)
    register(db, planted)
    activity = planted.records["activity"]
    last_error = max(p.row for p in planted.errors if p.record_type == "activity")
    assert last_error > 80  # at least two clean chunks come first
    result = ingest(
        db,
        SECRETARIAT,
        [Upload("activity.csv", synth.csv_bytes(activity))],
        channel="cli",
        strict=True,
        now=now_for(planted),
    )
    assert result.status == "rejected" and count(db, "activity") == 0
    assert result.counts["activity"]["received"] == activity.height


def test_streamed_chunks_keep_line_numbers(
    db: Session, planted: synth.SynthData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK_ROWS", 25)
    register(db, planted)
    seen: list[tuple[int, int]] = []
    result = ingest(
        db,
        SECRETARIAT,
        uploads(synth.csv_files(planted, registries=False)),
        channel="cli",
        now=now_for(planted),
        progress=lambda done, total: seen.append((done, total)),
    )
    found = sorted((i.record_type, i.locator, i.code) for i in result.issues)
    assert found == sorted((p.record_type, p.csv_locator, p.code) for p in planted.planted)
    rows = sum(frame.height for frame in planted.records.values())
    assert seen[0] == (0, rows) and seen[-1] == (rows, rows) and len(seen) > 5
    assert all(done <= total for done, total in seen)


def test_a_failure_mid_store_leaves_no_record(
    db: Session, clean: synth.SynthData, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(db, clean)
    real = service.store_checked
    calls: list[int] = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        outcome = real(*args, **kwargs)  # rows are written …
        if len(calls) == 3:
            raise RuntimeError("disk full")  # … then the third store fails
        return outcome

    monkeypatch.setattr(service, "store_checked", failing)
    result = send_records(db, clean, idempotency_key="retry-me")
    db.commit()
    assert len(calls) == 3
    assert all(count(db, name) == 0 for name in clean.records)
    assert result.status == "rejected" and result.issues[-1].code == "DH-G500"
    batch = db.get(Batch, result.batch_id)
    assert batch is not None and batch.status == "rejected" and batch.idempotency_key is None
    monkeypatch.setattr(service, "store_checked", real)
    retry = send_records(db, clean, idempotency_key="retry-me")  # the key was not spent on the failure
    assert retry.duplicate_of is None and retry.status == "accepted"


def test_only_the_secretariat_registers_shared_lists(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    sender = Sender("SYN01", "token:1")
    mine = clean.registries["participant"].filter(pl.col("consortium_id") == "SYN01")
    changed = mine.with_columns(pl.lit("3").alias("medication_code"))
    files = [
        Upload("device.csv", synth.csv_bytes(clean.registries["device"])),
        Upload("consortium.csv", synth.csv_bytes(clean.registries["consortium"])),
        Upload("participant.csv", synth.csv_bytes(changed)),
    ]
    result = ingest(db, sender, files, channel="api", now=now_for(clean))
    refused = [(i.code, i.source, i.record_type) for i in result.issues]
    assert refused == [("DH-X205", "device.csv", "device"), ("DH-X205", "consortium.csv", "consortium")]
    assert result.counts["device"]["rejected"] == 6 and result.counts["consortium"]["rejected"] == 2
    assert result.counts["participant"]["replaced"] == mine.filter(pl.col("medication_code") != "3").height
    assert result.status == "partial"


def test_records_of_another_consortium_are_refused(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    result = send_records(db, clean, sender=Sender("SYN01", "token:1"))
    theirs = clean.records["activity"].filter(pl.col("consortium_id") == "SYN02").height
    assert result.counts["activity"]["rejected"] == theirs
    assert {i.code for i in result.issues} == {"DH-X109"}
    table = table_for("activity")
    assert db.scalars(select(table.c.consortium_id).distinct()).all() == ["SYN01"]


def test_resends_through_the_service(db: Session, clean: synth.SynthData) -> None:
    register(db, clean)
    send_records(db, clean)
    weight = (
        clean.records["weight"]
        .head(3)
        .with_columns(
            pl.Series("body_weight", ["80.0", "81.0", "82.0"]),
            pl.Series(
                "update_time", ["20250125230000000", clean.records["weight"]["update_time"][1], "20240101000000000"]
            ),
        )
    )
    result = ingest(db, SECRETARIAT, [Upload("weight.csv", synth.csv_bytes(weight))], channel="cli", now=now_for(clean))
    counts = result.counts["weight"]
    assert (counts["replaced"], counts["conflict"], counts["stale"]) == (1, 1, 1)
    assert [i.code for i in result.issues] == ["DH-X202", "DH-X201"]
    assert result.status == "partial"
    history = db.scalars(select(RecordHistory)).one()
    assert history.replaced_by == result.batch_id


def test_the_error_report_is_bilingual_csv(db: Session, planted: synth.SynthData) -> None:
    register(db, planted)
    result = send_records(db, planted)
    report = issues_csv(db, result.batch_id)
    assert report.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(report.decode("utf-8-sig"))))
    assert len(rows) == len(result.issues)
    assert list(rows[0]) == list(service.ISSUE_COLUMNS)
    impossible = next(row for row in rows if row["code"] == "DH-X103")
    assert impossible["source"] == "activity.csv" and impossible["field"] == "observation_time"
    assert "存在しない日付" in impossible["message_ja"] and "not a real date" in impossible["message_en"]
    with pytest.raises(NotFound):
        issues_csv(db, "no-such-batch")


def test_whole_request_problems_raise_before_a_batch_exists(db: Session) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        ingest(db, SECRETARIAT, [Upload("weight.xlsx", b"x")], channel="web", now=datetime(2025, 2, 1, tzinfo=UTC))
    assert caught.value.code == "DH-X303"
    assert batches(db) == 0


def test_a_file_that_cannot_be_read_is_a_rejected_batch(db: Session) -> None:
    shift_jis = "consortium_id,participant_id\nSYN01,参加者\n".encode("shift_jis")
    result = ingest(
        db, SECRETARIAT, [Upload("participant.csv", shift_jis)], channel="cli", now=datetime(2025, 2, 1, tzinfo=UTC)
    )
    assert result.status == "rejected" and [i.code for i in result.issues] == ["DH-X114"]
    assert db.get(Batch, result.batch_id) is not None
