"""Synthetic hub contents for the FHIR tests (imported by the other test_fhir_* modules), and tests of the
mapping table itself: every field of every exported record type has one home in FHIR."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.exchange import fhir_map as fm
from datahealth.exchange import spec
from datahealth.exchange.tables import Batch, table_for

C1, C2 = "C01", "C02"
STAMP = datetime(2025, 1, 20, 12, tzinfo=UTC)

PARTICIPANTS = (
    {"consortium_id": C1, "participant_id": "P001", "birth_year_month": "197005", "sex_code": "1"},
    {"consortium_id": C1, "participant_id": "P002", "birth_year_month": "198512", "sex_code": "2"},
    {"consortium_id": C1, "participant_id": "P003", "birth_year_month": "196001", "sex_code": "9"},
    {"consortium_id": C2, "participant_id": "Q001", "birth_year_month": "199002", "sex_code": "0"},
)
DEVICES = (
    (
        "SYN/A",
        "AM 100",
        "活動量計",
        "1",
        "walk_time moderate_intensity_activity calories total_calories distance exercise physical_activity",
    ),
    ("SYNB", "WB 20", "スマートウォッチ", "5", "total_calories"),
    (
        "SYNC",
        "StepApp 2.1",
        "歩数アプリ",
        "4",
        "walk_time moderate_intensity_activity calories distance exercise physical_activity",
    ),
    ("SYNW", "SC-5", "体重計", "2", ""),
    ("SYNP", "BP-7", "血圧計", "3", "pulse_rate"),
    ("SYNP", "BP-3", "血圧計（脈拍なし）", "3", ""),
)


def _t(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M%S")


def _u(text: str) -> datetime:
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(microsecond=int(text[14:]) * 1000)


ACTIVITY_DEVICE = {
    "model_manufacturer_code": "SYN/A",
    "model_number": "AM 100",
    "production_specification_serial": "C01%0001",
}
WATCH_DEVICE = {"model_manufacturer_code": "SYNB", "model_number": "WB 20", "production_specification_serial": "AA:BB"}
APP_DEVICE = {
    "model_manufacturer_code": "SYNC",
    "model_number": "StepApp 2.1",
    "production_specification_serial": "02:00:5e:10:00:01",
}
WEIGHT_DEVICE = {"model_manufacturer_code": "SYNW", "model_number": "SC-5", "production_specification_serial": "W-1"}
BP_DEVICE = {"model_manufacturer_code": "SYNP", "model_number": "BP-7", "production_specification_serial": "B-1"}
BP_DEVICE_NO_PULSE = {
    "model_manufacturer_code": "SYNP",
    "model_number": "BP-3",
    "production_specification_serial": "B-2",
}

RECORDS: dict[str, list[dict[str, Any]]] = {
    "weight": [
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250105071500"),
            "body_weight": Decimal("65.0"),
            **WEIGHT_DEVICE,
            "data_input_code": "0",
            "origin_of_time_code": "0",
            "update_time": _u("20250105071501123"),
        },
        {
            "consortium_id": C1,
            "participant_id": "P002",
            "observation_time": _t("20250106070000"),
            "body_weight": Decimal("102.4"),
            **WEIGHT_DEVICE,
            "data_input_code": "1",
            "origin_of_time_code": "1",
            "update_time": _u("20250106080000000"),
        },
        {
            "consortium_id": C2,
            "participant_id": "Q001",
            "observation_time": _t("20250106070000"),
            "body_weight": Decimal("55.5"),
            **WEIGHT_DEVICE,
            "data_input_code": "0",
            "origin_of_time_code": "0",
            "update_time": _u("20250106080000000"),
        },
    ],
    "blood_pressure": [
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250105072000"),
            "systolic_bp": 128,
            "diastolic_bp": 82,
            "pulse_rate": 64,
            **BP_DEVICE,
            "data_input_code": "0",
            "origin_of_time_code": "0",
            "update_time": _u("20250105072001000"),
        },
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250106072000"),
            "systolic_bp": 131,
            "diastolic_bp": 85,
            "pulse_rate": None,
            **BP_DEVICE_NO_PULSE,
            "data_input_code": "2",
            "origin_of_time_code": "1",
            "update_time": _u("20250106072001999"),
        },
    ],
    "activity": [
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250105000000"),
            "step": 8123,
            "walk_time": 95,
            "moderate_intensity_activity": 31,
            "calories": Decimal("312.5"),
            "total_calories": Decimal("2150.0"),
            "distance": Decimal("5.9"),
            "exercise": Decimal("3.2"),
            "physical_activity": Decimal("280.0"),
            **ACTIVITY_DEVICE,
            "total_active_duration": 1440,
            "data_input_code": "0",
            "measurement_position_code": "30",
            "origin_of_time_code": "1",
            "update_time": _u("20250106010203004"),
        },
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250106090000"),
            "step": 1200,
            "walk_time": None,
            "moderate_intensity_activity": None,
            "calories": None,
            "total_calories": Decimal("95.5"),
            "distance": None,
            "exercise": None,
            "physical_activity": None,
            **WATCH_DEVICE,
            "total_active_duration": 60,
            "data_input_code": "0",
            "measurement_position_code": "31",
            "origin_of_time_code": "0",
            "update_time": _u("20250106100000000"),
            "flags": "DH-W201",  # 95.5 kcal in an hour is below the plausible daily total: stored, flagged
        },
        {
            "consortium_id": C1,
            "participant_id": "P003",
            "observation_time": _t("20250105000000"),
            "step": 0,
            "walk_time": 0,
            "moderate_intensity_activity": 0,
            "calories": Decimal("0.0"),
            "total_calories": None,
            "distance": Decimal("0.0"),
            "exercise": Decimal("0.0"),
            "physical_activity": Decimal("0.0"),
            **APP_DEVICE,
            "total_active_duration": 1440,
            "data_input_code": "1",
            "measurement_position_code": "50",
            "origin_of_time_code": "0",
            "update_time": _u("20250106000000000"),
        },
    ],
    "hba1c": [
        {
            "consortium_id": C1,
            "participant_id": "P001",
            "observation_time": _t("20250110000000"),
            "hba1c": Decimal("6.8"),
            "lab_id": "LAB1",
            "hba1c_method_code": "M01",
            "data_input_code": "1",
            "update_time": _u("20250111090000000"),
        },
    ],
    "clinic_blood_pressure": [
        {
            "consortium_id": C1,
            "participant_id": "P002",
            "observation_time": _t("20250110000000"),
            "bp_context_code": "1",
            "systolic_bp": 140,
            "diastolic_bp": 90,
            "lab_id": "LAB1",
            "data_input_code": "1",
            "update_time": _u("20250111090000000"),
        },
        {
            "consortium_id": C1,
            "participant_id": "P002",
            "observation_time": _t("20250110000000"),
            "bp_context_code": "2",
            "systolic_bp": 150,
            "diastolic_bp": 95,
            "lab_id": None,
            "data_input_code": "1",
            "update_time": _u("20250111090000000"),
        },
    ],
}


def seed_registries(db: Session, consortia: Iterable[str] = (C1, C2)) -> None:
    """The consortia and registries the sample records refer to (as the secretariat registers them)."""
    for code in consortia:
        db.add(Organisation(kind=OrgKind.CONSORTIUM, code=code, name=f"合成コンソーシアム {code}"))
    db.flush()
    db.execute(
        table_for("participant").insert(),
        [
            {
                **row,
                "participation_start_date": date(2024, 12, 1),
                "residence_prefecture_code": "13",
                "medication_code": "0",
                "updated_at": STAMP,
            }
            for row in PARTICIPANTS
        ],
    )
    db.execute(
        table_for("device").insert(),
        [
            {
                "model_manufacturer_code": maker,
                "model_number": model,
                "device_name": name,
                "device_category_code": category,
                "time_correction_code": "1",
                "measured_items": measured,
                "updated_at": STAMP,
            }
            for maker, model, name, category, measured in DEVICES
        ],
    )
    db.execute(
        table_for("lab").insert(),
        [
            {
                "consortium_id": C1,
                "lab_id": "LAB1",
                "lab_name": "合成検査センター",
                "lab_prefecture_code": "13",
                "updated_at": STAMP,
            }
        ],
    )
    db.execute(
        table_for("hba1c_method").insert(),
        [{"method_code": "M01", "method_category_code": "1", "method_name": "HPLC法", "updated_at": STAMP}],
    )


def seed_records(db: Session) -> str:
    """Every sample record, stored directly (as the store would), in one batch; returns the batch id."""
    batch_id = str(uuid.uuid4())
    db.add(
        Batch(
            id=batch_id,
            consortium_id=C1,
            channel="cli",
            wire_format="csv",
            status="accepted",
            counts={},
            sources=[],
            strict=False,
            submitted_by="test",
            received_at=STAMP,
        )
    )
    db.flush()
    for record_type, rows in RECORDS.items():
        db.execute(table_for(record_type).insert(), [{"flags": "", **row, "batch_id": batch_id} for row in rows])
    db.flush()
    return batch_id


def stored_rows(db: Session, record_type: str) -> list[dict[str, Any]]:
    """The stored records of one type as comparable dicts (spec fields + flags), in identity order."""
    record = spec.record_type(record_type)
    table = table_for(record_type)
    columns = [table.c[name] for name in (*record.names, "flags")]
    order = [table.c[name] for name in record.identity]
    return [dict(row._mapping) for row in db.execute(select(*columns).order_by(*order))]


def resources(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [json.loads(text) for text in lines]


# --- the mapping table -----------------------------------------------------------------------------


def test_every_field_of_every_exported_record_type_has_a_home_in_fhir() -> None:
    for record_type in fm.RECORD_TYPES:
        missing = [name for name in spec.record_type(record_type).names if name not in fm.CARRIERS]
        assert missing == [], f"{record_type}: {missing}"


def test_item_codes_are_unique_and_every_value_field_is_mapped_once() -> None:
    assert len(fm.BY_ITEM) == len(fm.OBSERVATIONS)
    for record_type in fm.RECORD_TYPES:
        mapped = [measure.field for entry in fm.observations_of(record_type) for measure in entry.measures]
        assert len(mapped) == len(set(mapped))
        for name in mapped:
            assert spec.record_type(record_type).field(name).kind in (spec.Kind.INTEGER, spec.Kind.DECIMAL)


def test_the_brief_s_loinc_codes_and_ucum_units() -> None:
    def loinc(item: str) -> tuple[str | None, str]:
        measure = fm.BY_ITEM[item].measures[0]
        return (measure.loinc.code if measure.loinc else None), measure.unit.code

    assert loinc("weight.body_weight") == ("29463-7", "kg")
    assert loinc("blood_pressure.pulse_rate") == ("8867-4", "/min")
    assert loinc("activity.step") == ("55423-8", "{steps}")
    assert fm.BY_ITEM["activity.step"].measures[0].daily == (
        fm.Coding(fm.LOINC, "41950-7", "Number of steps in 24 hour Measured"),
        fm.STEPS_PER_DAY,
    )
    assert loinc("activity.calories") == ("41981-2", "kcal")
    assert loinc("activity.distance") == ("55430-3", "km")
    assert loinc("hba1c.hba1c") == ("4548-4", "%")
    panel = fm.BY_ITEM["blood_pressure"]
    assert panel.panel is not None and panel.panel.code == "85354-9"
    assert [(m.field, m.loinc.code if m.loinc else None, m.unit.code) for m in panel.measures] == [
        ("systolic_bp", "8480-6", "mm[Hg]"),
        ("diastolic_bp", "8462-4", "mm[Hg]"),
    ]


def test_loinc_lookup_for_observations_made_elsewhere() -> None:
    assert [entry.item for entry in fm.by_loinc("85354-9")] == ["blood_pressure", "clinic_blood_pressure"]
    assert [entry.item for entry in fm.by_loinc("41950-7")] == ["activity.step"]
    assert [entry.item for entry in fm.by_loinc("41979-6")] == ["activity.total_calories"]
    assert fm.by_loinc("8480-6") == []  # a bare systolic reading is not a record of the specification


def test_the_mapping_document_shows_the_table_the_code_uses() -> None:
    document = (Path(__file__).parents[2] / "docs" / "fhir-mapping.md").read_text(encoding="utf-8")
    assert fm.mapping_markdown() in document
    assert fm.carriers_markdown() in document
