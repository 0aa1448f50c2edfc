"""FHIR through the whole pipeline: export → import into a hub without those records → the same rows (values,
types and flags), the same export again; re-imports are no-ops and the resend rules apply to FHIR too."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from test_fhir_data import C1, C2, RECORDS, seed_records, seed_registries, stored_rows

from datahealth.exchange import fhir_map as fm
from datahealth.exchange import synth
from datahealth.exchange.fhir_export import export_ndjson
from datahealth.exchange.service import IngestResult, Sender, Upload, ingest
from datahealth.exchange.tables import RecordHistory, table_for

NOW = datetime(2025, 9, 1, 3, tzinfo=UTC)


def empty_records(db: Session, consortium_id: str) -> None:
    for record_type in fm.RECORD_TYPES:
        table = table_for(record_type)
        db.execute(delete(table).where(table.c.consortium_id == consortium_id))
    db.flush()


def send(db: Session, sender: str | None, lines: list[str], name: str = "export.ndjson") -> IngestResult:
    data = ("\n".join(lines) + "\n").encode()
    return ingest(db, Sender(sender, "test"), [Upload(name, data)], channel="api", now=NOW)


def rows_of(db: Session, consortium_id: str) -> dict[str, list[dict[str, Any]]]:
    return {
        record_type: [row for row in stored_rows(db, record_type) if row["consortium_id"] == consortium_id]
        for record_type in fm.RECORD_TYPES
    }


def test_sample_records_survive_export_and_import_exactly(db: Session) -> None:
    seed_registries(db)
    seed_records(db)
    before = rows_of(db, C1)
    exported = list(export_ndjson(db, consortium_id=C1))
    empty_records(db, C1)

    result = send(db, C1, exported)

    assert result.errors == [], result.errors
    assert result.status == "accepted"
    assert {name: counts["stored"] for name, counts in result.counts.items()} == {
        name: len([row for row in rows if row["consortium_id"] == C1]) for name, rows in RECORDS.items()
    }
    assert rows_of(db, C1) == before  # every value, type and flag
    assert list(export_ndjson(db, consortium_id=C1)) == exported  # byte for byte

    again = send(db, C1, exported)
    assert again.errors == []
    assert again.total("unchanged") == again.total("received") == result.total("stored")
    assert again.total("stored") == again.total("replaced") == 0


def test_synthetic_consortia_round_trip_through_csv_and_fhir(db: Session) -> None:
    data = synth.generate(participants=3, days=14, consortia=("SYN01", "SYN02"), seed=7)
    first = ingest(db, Sender(None, "test"), [Upload(n, b) for n, b in synth.csv_files(data)], channel="cli", now=NOW)
    assert first.errors == [], first.errors[:3]
    before = rows_of(db, "SYN01")
    assert sum(len(rows) for rows in before.values()) > 50
    untouched = rows_of(db, "SYN02")
    exported = list(export_ndjson(db, consortium_id="SYN01"))
    empty_records(db, "SYN01")

    result = send(db, "SYN01", exported)

    assert result.errors == [], result.errors[:3]
    assert rows_of(db, "SYN01") == before
    assert rows_of(db, "SYN02") == untouched
    assert list(export_ndjson(db, consortium_id="SYN01")) == exported


def weight_line(lines: list[str]) -> tuple[int, dict[str, Any]]:
    for index, text in enumerate(lines):
        if '"weight.body_weight"' in text:
            return index, json.loads(text)
    raise AssertionError("no weight Observation")


@pytest.fixture
def hub(db: Session) -> list[str]:
    seed_registries(db)
    seed_records(db)
    return list(export_ndjson(db, consortium_id=C1, participant_id="P001"))


def test_a_correction_with_a_newer_last_updated_replaces_and_keeps_history(db: Session, hub: list[str]) -> None:
    _, weight = weight_line(hub)
    weight["valueQuantity"]["value"] = 64.5
    weight["meta"]["lastUpdated"] = "2025-01-07T09:00:00.000+09:00"
    result = send(db, C1, [json.dumps(weight)], "correction.ndjson")
    assert result.errors == []
    assert result.counts["weight"]["replaced"] == 1
    row = next(r for r in stored_rows(db, "weight") if r["participant_id"] == "P001")
    assert str(row["body_weight"]) == "64.5"
    assert row["update_time"] == datetime(2025, 1, 7, 9)
    assert db.scalar(select(func.count()).select_from(RecordHistory)) == 1


def test_same_last_updated_with_other_content_is_a_conflict(db: Session, hub: list[str]) -> None:
    _, weight = weight_line(hub)
    weight["valueQuantity"]["value"] = 64.5
    result = send(db, C1, [json.dumps(weight)], "conflict.ndjson")
    assert [(issue.code, issue.locator) for issue in result.errors] == [("DH-X202", "line 1")]
    row = next(r for r in stored_rows(db, "weight") if r["participant_id"] == "P001")
    assert str(row["body_weight"]) == "65.0"


def test_an_older_last_updated_is_stale(db: Session, hub: list[str]) -> None:
    _, weight = weight_line(hub)
    weight["valueQuantity"]["value"] = 64.5
    weight["meta"]["lastUpdated"] = "2025-01-05T07:15:01.000+09:00"
    result = send(db, C1, [json.dumps(weight)], "stale.ndjson")
    assert [issue.code for issue in result.errors] == ["DH-X201"]


def test_another_consortium_cannot_import_these_observations(db: Session, hub: list[str]) -> None:
    result = send(db, C2, hub)
    assert result.status == "rejected"
    assert {issue.code for issue in result.errors} == {"DH-X109"}


def test_reading_problems_reach_the_batch_report_with_their_lines(db: Session, hub: list[str]) -> None:
    _, weight = weight_line(hub)
    glucose = dict(weight, code={"coding": [{"system": fm.LOINC, "code": "2339-0"}]})
    result = send(db, C1, ["{broken", json.dumps(glucose), *hub], "mixed.ndjson")
    assert [(issue.code, issue.source, issue.locator) for issue in result.errors] == [
        ("DH-F101", "mixed.ndjson", "line 1"),
        ("DH-F102", "mixed.ndjson", "line 2"),
    ]
    assert result.status == "partial"
    assert result.total("unchanged") > 0  # the good lines were read and found already stored

    strict = ingest(
        db, Sender(C1, "test"), [Upload("strict.ndjson", b"{broken\n")], channel="api", strict=True, now=NOW
    )
    assert strict.status == "rejected"
    assert "DH-X203" in {issue.code for issue in strict.issues}
