"""Data-quality figures against hand-computed expectations (rows inserted directly into the spec tables)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert
from sqlalchemy.orm import Session

from datahealth.exchange.quality import QualityReport, aggregate_view, quality_report, report_xlsx, researcher_view
from datahealth.exchange.tables import Batch, table_for

TODAY = date(2025, 3, 10)
DEVICE_A = {"model_manufacturer_code": "M1", "model_number": "X1", "production_specification_serial": "S1"}
DEVICE_B = {"model_manufacturer_code": "M2", "model_number": "X2", "production_specification_serial": "S2"}


def _participant(cid: str, pid: str, start: date, end: date | None = None) -> dict[str, Any]:
    return {
        "consortium_id": cid,
        "participant_id": pid,
        "birth_year_month": "198004",
        "sex_code": "1",
        "participation_start_date": start,
        "participation_end_date": end,
        "residence_prefecture_code": "13",
        "medication_code": "0",
        "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
    }


def _common(cid: str, pid: str, when: datetime, batch: str, code: str = "0", flags: str = "") -> dict[str, Any]:
    return {
        "consortium_id": cid,
        "participant_id": pid,
        "observation_time": when,
        "data_input_code": code,
        "update_time": when,
        "flags": flags,
        "batch_id": batch,
        "stored_at": datetime(2025, 3, 1, tzinfo=UTC),
    }


def _activity(
    cid: str, pid: str, when: datetime, batch: str, *, step: int = 8000, code: str = "0", device: dict[str, str]
) -> dict[str, Any]:
    return {
        **_common(cid, pid, when, batch, code, "DH-W201" if step > 60000 else ""),
        **device,
        "step": step,
        "walk_time": None,
        "moderate_intensity_activity": None,
        "calories": None,
        "total_calories": None,
        "distance": None,
        "exercise": None,
        "physical_activity": None,
        "total_active_duration": 1440,
        "measurement_position_code": "30",
        "origin_of_time_code": "0",
    }


@pytest.fixture
def seeded(db: Session) -> Session:
    """Consortium CONSA: P1 (from 2025-01-01, open), P2 (2025-02-01…02-10), P3 (starts 2025-04-01);
    CONSB: Q1. See the test for the expected figures."""
    db.add_all(
        [
            Batch(id="batch-a", consortium_id="CONSA", channel="api", wire_format="csv", status="accepted"),
            Batch(id="batch-b", consortium_id="CONSB", channel="api", wire_format="csv", status="accepted"),
        ]
    )
    db.flush()
    db.execute(
        insert(table_for("participant")),
        [
            _participant("CONSA", "P1", date(2025, 1, 1)),
            _participant("CONSA", "P2", date(2025, 2, 1), date(2025, 2, 10)),
            _participant("CONSA", "P3", date(2025, 4, 1)),
            _participant("CONSB", "Q1", date(2025, 1, 1)),
        ],
    )
    db.execute(
        insert(table_for("device")),
        [
            {
                "model_manufacturer_code": "M1",
                "model_number": "X1",
                "device_name": "歩数計一号",
                "device_category_code": "1",
                "time_correction_code": "0",
                "measured_items": "walk_time",
                "updated_at": datetime(2025, 1, 1, tzinfo=UTC),
            }
        ],
    )
    a = "batch-a"
    db.execute(
        insert(table_for("activity")),
        [
            _activity("CONSA", "P1", datetime(2025, 1, 1, 8), a, device=DEVICE_A),
            _activity("CONSA", "P1", datetime(2025, 1, 1, 20), a, device=DEVICE_A),
            _activity("CONSA", "P1", datetime(2025, 1, 15), a, code="1", device=DEVICE_A),
            _activity("CONSA", "P1", datetime(2025, 2, 1), a, code="2", device=DEVICE_A),
            _activity("CONSA", "P2", datetime(2025, 2, 5), a, device=DEVICE_B),
            _activity("CONSA", "P2", datetime(2025, 2, 12), a, step=70000, device=DEVICE_B),
            _activity("CONSB", "Q1", datetime(2025, 1, 5), "batch-b", code="1", device=DEVICE_A),
        ],
    )
    db.execute(
        insert(table_for("weight")),
        [
            {
                **_common("CONSA", "P1", datetime(2025, 1, 15, 7), a, "1", "DH-W201"),
                **DEVICE_B,
                "body_weight": Decimal("350.0"),
                "origin_of_time_code": "0",
            },
            {
                **_common("CONSA", "P1", datetime(2025, 2, 20, 7, 30), a),
                **DEVICE_B,
                "body_weight": Decimal("61.5"),
                "origin_of_time_code": "0",
            },
        ],
    )
    db.execute(
        insert(table_for("blood_pressure")),
        [
            {
                **_common("CONSA", "P1", datetime(2025, 3, 1, 6), a, flags="DH-W202"),
                **DEVICE_B,
                "systolic_bp": 80,
                "diastolic_bp": 90,
                "pulse_rate": None,
                "origin_of_time_code": "1",
            }
        ],
    )
    db.commit()
    return db


def test_quality_of_one_consortium(seeded: Session) -> None:
    report = quality_report(seeded, "CONSA", TODAY)
    totals = {t.record_type: (t.records, t.participants) for t in report.totals}
    assert totals == {
        "weight": (2, 1),
        "blood_pressure": (1, 1),
        "activity": (6, 2),
        "hba1c": (0, 0),
        "clinic_blood_pressure": (0, 0),
    }
    assert report.months == ["2025-01", "2025-02", "2025-03"]
    assert dict(report.monthly_table()) == {
        "weight": [1, 1, 0],
        "blood_pressure": [0, 0, 1],
        "activity": [3, 3, 0],
        "hba1c": [0, 0, 0],
        "clinic_blood_pressure": [0, 0, 0],
    }

    coverage = {c.participant_id: c for c in report.coverage}
    assert set(coverage) == {"P1", "P2", "P3"}
    # P1: 2025-01-01 … 2025-03-10 is 31 + 28 + 10 = 69 days; data on 01-01 (twice), 01-15 (activity and
    # weight), 02-01, 02-20 and 03-01: 5 distinct days.
    p1 = coverage["P1"]
    assert (p1.period_days, p1.days_with_data) == (69, 5)
    assert p1.days_by_type == {"activity": 3, "weight": 2, "blood_pressure": 1}
    assert p1.share == pytest.approx(5 / 69)
    # P2: 2025-02-01 … 02-10 is 10 days; the 02-12 record lies after the period and does not count.
    assert (coverage["P2"].period_days, coverage["P2"].days_with_data, coverage["P2"].share) == (10, 1, 0.1)
    # P3 has not started yet.
    assert (coverage["P3"].period_days, coverage["P3"].share) == (0, None)
    assert report.mean_coverage == pytest.approx((5 / 69 + 0.1) / 2)

    flags = {(f.record_type, f.code): (f.records, f.share) for f in report.flags}
    assert flags == {
        ("activity", "DH-W201"): (1, pytest.approx(1 / 6)),
        ("weight", "DH-W201"): (1, 0.5),
        ("blood_pressure", "DH-W202"): (1, 1.0),
    }
    ranges = {(o.record_type, o.field): (o.below, o.above) for o in report.out_of_range}
    assert ranges == {("activity", "step"): (0, 1), ("weight", "body_weight"): (0, 1)}

    devices = [(d.record_type, d.maker, d.model, d.device_name, d.records, d.participants) for d in report.devices]
    assert devices == [
        ("weight", "M2", "X2", "", 2, 1),
        ("blood_pressure", "M2", "X2", "", 1, 1),
        ("activity", "M1", "X1", "歩数計一号", 4, 1),
        ("activity", "M2", "X2", "", 2, 1),
    ]
    assert [d.share for d in report.devices if d.record_type == "activity"] == [pytest.approx(4 / 6), 2 / 6]

    manual = {m.record_type: (m.records, m.hand_entered, m.hand_corrected, m.share) for m in report.manual}
    assert manual["activity"] == (6, 1, 1, pytest.approx(2 / 6))
    assert manual["weight"] == (2, 1, 0, 0.5)
    assert manual["blood_pressure"] == (1, 0, 0, 0.0)
    assert manual["hba1c"] == (0, 0, 0, None)


def test_all_consortia_and_isolation(seeded: Session) -> None:
    everyone = quality_report(seeded, None, TODAY)
    assert {t.record_type: t.records for t in everyone.totals}["activity"] == 7
    assert {(c.consortium_id, c.participant_id) for c in everyone.coverage} == {
        ("CONSA", "P1"),
        ("CONSA", "P2"),
        ("CONSA", "P3"),
        ("CONSB", "Q1"),
    }
    q1 = next(c for c in everyone.coverage if c.participant_id == "Q1")
    assert (q1.period_days, q1.days_with_data) == (69, 1)
    activity_devices = {(d.maker, d.records) for d in everyone.devices if d.record_type == "activity"}
    assert activity_devices == {("M1", 5), ("M2", 2)}

    only_b = quality_report(seeded, "CONSB", TODAY)
    assert {t.record_type: t.records for t in only_b.totals} == {
        "weight": 0,
        "blood_pressure": 0,
        "activity": 1,
        "hba1c": 0,
        "clinic_blood_pressure": 0,
    }
    assert [m.share for m in only_b.manual if m.record_type == "activity"] == [1.0]
    assert quality_report(seeded, "NOSUCH", TODAY).coverage == []


def test_empty_database_gives_an_empty_report(db: Session) -> None:
    report = quality_report(db, "CONSA", TODAY)
    assert all(t.records == 0 for t in report.totals)
    assert report.monthly == [] and report.coverage == [] and report.devices == [] and report.flags == []
    assert report.mean_coverage is None


def test_report_workbook(seeded: Session) -> None:
    report: QualityReport = quality_report(seeded, "CONSA", TODAY)
    book = load_workbook(io.BytesIO(report_xlsx(report)))
    assert book.sheetnames == [
        "summary",
        "monthly",
        "coverage",
        "flags",
        "out_of_range",
        "devices",
        "manual_entry",
        "about",
    ]
    monthly = [list(row) for row in book["monthly"].iter_rows(values_only=True)]
    assert monthly[0] == ["レコード種別 / record_type", "2025-01", "2025-02", "2025-03"]
    assert ["activity", 3, 3, 0] in monthly
    coverage = {row[1]: row for row in book["coverage"].iter_rows(min_row=2, values_only=True)}
    assert coverage["P1"][4:7] == (69, 5, 7.2)
    assert coverage["P3"][6] is None
    manual = {row[0]: row for row in book["manual_entry"].iter_rows(min_row=2, values_only=True)}
    assert manual["activity"] == ("activity", 6, 1, 1, 33.3)


def _texts(report: QualityReport) -> str:
    book = load_workbook(io.BytesIO(report_xlsx(report)), read_only=True)
    return "\n".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for v in row)


def test_aggregate_view_for_researchers(seeded: Session) -> None:
    """What a researcher sees: no participant rows, and nothing computed over fewer than ``threshold`` people."""
    everyone = quality_report(seeded, None, TODAY)
    people = {t.record_type: t.participants for t in everyone.totals}
    assert people == {"weight": 1, "blood_pressure": 1, "activity": 3, "hba1c": 0, "clinic_blood_pressure": 0}

    strict = aggregate_view(everyone)  # the real threshold, 10: four participants in all, everything goes
    assert strict.aggregates_only and strict.coverage == [] and strict.devices == []
    assert strict.suppressed_types == ["weight", "blood_pressure", "activity"]
    assert [t.record_type for t in strict.totals] == ["hba1c", "clinic_blood_pressure"]
    assert strict.monthly == [] and strict.flags == [] and strict.out_of_range == []
    assert strict.mean_coverage is None and strict.participants_counted is None
    assert strict.suppressed_devices == 0  # the device groups went with their record type
    assert not {"P1", "P2", "P3", "Q1"} & set(_texts(strict).split())

    loose = aggregate_view(everyone, threshold=2)
    assert loose.suppressed_types == ["weight", "blood_pressure"]
    assert [t.record_type for t in loose.totals] == [t.record_type for t in loose.manual]
    assert {(d.maker, d.participants) for d in loose.devices} == {
        (d.maker, d.participants) for d in everyone.devices if d.participants >= 2 and d.record_type == "activity"
    }
    assert loose.participants_counted == 3  # P3 has not started: no share
    assert loose.mean_coverage == pytest.approx(everyone.mean_coverage)
    assert {m.record_type for m in loose.monthly} == {"activity"}
    coverage = [list(r) for r in load_workbook(io.BytesIO(report_xlsx(loose)))["coverage"].iter_rows(values_only=True)]
    assert coverage == [
        ["参加者数 / participants", "平均割合(%) / mean_share_percent"],
        [3, loose.mean_coverage and round(loose.mean_coverage * 100, 1)],
    ]
    assert not {"P1", "P2", "P3", "Q1"} & set(_texts(loose).split())


def test_researcher_view_hides_what_a_small_consortium_adds(seeded: Session) -> None:
    """Over every consortium, a group that is small in one consortium is hidden too: otherwise "all" minus the
    consortia shown would give it. CONSA has 3 activity participants, CONSB 1 (Q1)."""
    everyone = quality_report(seeded, None, TODAY)
    plain = aggregate_view(everyone, threshold=2)
    assert "activity" not in plain.suppressed_types and plain.mean_coverage is not None
    view = researcher_view(seeded, everyone, threshold=2)
    assert "activity" in view.suppressed_types and view.devices == []
    assert view.mean_coverage is None and view.participants_counted is None  # Q1 alone in CONSB
    only_a = researcher_view(seeded, quality_report(seeded, "CONSA", TODAY), threshold=2)
    assert only_a == aggregate_view(quality_report(seeded, "CONSA", TODAY), threshold=2)
    assert "activity" not in only_a.suppressed_types
