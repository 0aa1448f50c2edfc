"""Synthetic rows and registries for the reader/checker tests (valid unless a test overrides a field)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from datahealth.exchange.check import check
from datahealth.exchange.pipeline import CheckedBatch, Issue
from datahealth.exchange.read_csv import read_csv_files
from datahealth.exchange.read_json import read_json_message
from datahealth.exchange.registry import (
    DEVICES_SCHEMA,
    LABS_SCHEMA,
    METHODS_SCHEMA,
    PARTICIPANTS_SCHEMA,
    RegistrySnapshot,
)

NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
"""Receipt time: 2025-06-01 12:00 in Japan."""
SENDER = "C01"

VALID: dict[str, dict[str, str]] = {
    "activity": {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": "20250301000000",
        "step": "8000",
        "walk_time": "60",
        "moderate_intensity_activity": "20",
        "calories": "250.5",
        "total_calories": "1800.0",
        "distance": "5.2",
        "model_manufacturer_code": "MAKER1",
        "model_number": "AM-100",
        "production_specification_serial": "SER001",
        "total_active_duration": "1440",
        "data_input_code": "0",
        "measurement_position_code": "30",
        "origin_of_time_code": "0",
        "update_time": "20250302120000123",
    },
    "weight": {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": "20250301070000",
        "body_weight": "65.4",
        "model_manufacturer_code": "MAKER4",
        "model_number": "SC-1",
        "production_specification_serial": "SER-W1",
        "data_input_code": "0",
        "origin_of_time_code": "0",
        "update_time": "20250301070500000",
    },
    "blood_pressure": {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": "20250301071500",
        "systolic_bp": "120",
        "diastolic_bp": "80",
        "pulse_rate": "70",
        "model_manufacturer_code": "MAKER3",
        "model_number": "BP-1",
        "production_specification_serial": "SER-B1",
        "data_input_code": "0",
        "origin_of_time_code": "1",
        "update_time": "20250301072000000",
    },
    "hba1c": {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": "20250301000000",
        "hba1c": "6.5",
        "lab_id": "LAB1",
        "hba1c_method_code": "M1",
        "data_input_code": "1",
        "update_time": "20250305090000000",
    },
    "clinic_blood_pressure": {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": "20250301000000",
        "bp_context_code": "1",
        "systolic_bp": "130",
        "diastolic_bp": "85",
        "lab_id": "LAB1",
        "data_input_code": "1",
        "update_time": "20250305090000000",
    },
    "participant": {
        "consortium_id": "C01",
        "participant_id": "P003",
        "birth_year_month": "198001",
        "sex_code": "1",
        "participation_start_date": "20250101",
        "participation_end_date": "",
        "residence_prefecture_code": "13",
        "commute_code": "1",
        "medication_code": "0",
        "wearing_position_code": "30",
    },
    "lab": {"consortium_id": "C01", "lab_id": "LAB2", "lab_name": "第２検査センター", "lab_prefecture_code": "13"},
    "hba1c_method": {"method_code": "M2", "method_category_code": "1", "method_name": "HPLC法"},
    "device": {
        "model_manufacturer_code": "MAKER9",
        "model_number": "X-1",
        "device_name": "テスト活動量計",
        "device_category_code": "1",
        "time_correction_code": "0",
        "standard_compliance": "JIS S 7200",
        "accuracy": "歩数 ±3%",
        "measured_items": "walk_time",
    },
    "activity_recording": {
        "model_manufacturer_code": "MAKER1",
        "model_number": "AM-100",
        "aggregation_code": "1",
        "aggregation_minutes": "1440",
    },
    "consortium": {"consortium_id": "C03", "consortium_name": "第三コンソーシアム"},
}


def registry() -> RegistrySnapshot:
    """C01 and C02 registered; P001 open-ended, P002 until 2025-03-31 (both C01), P100 of C02."""
    participants = pl.DataFrame(
        [
            ("C01", "P001", date(2025, 1, 1), None),
            ("C01", "P002", date(2025, 1, 1), date(2025, 3, 31)),
            ("C02", "P100", date(2025, 1, 1), None),
        ],
        schema=PARTICIPANTS_SCHEMA,
        orient="row",
    )
    devices = pl.DataFrame(
        [
            ("MAKER1", "AM-100", "1", "walk_time moderate_intensity_activity calories total_calories distance"),
            ("MAKER2", "APP 1.0", "4", "calories"),
            ("MAKER3", "BP-1", "3", "pulse_rate"),
            ("MAKER4", "SC-1", "2", "body_weight"),
        ],
        schema=DEVICES_SCHEMA,
        orient="row",
    )
    labs = pl.DataFrame([("C01", "LAB1"), ("C02", "LAB9")], schema=LABS_SCHEMA, orient="row")
    methods = pl.DataFrame([("M1",)], schema=METHODS_SCHEMA, orient="row")
    return RegistrySnapshot(frozenset({"C01", "C02"}), participants, devices, labs, methods)


def row(record_type: str, **overrides: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = dict(VALID[record_type])
    values.update(overrides)
    return values


def csv_bytes(rows: list[dict[str, str | None]], *, bom: bool = False, columns: list[str] | None = None) -> bytes:
    names = columns or list(rows[0])
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for values in rows:
        writer.writerow(["" if values.get(name) is None else values[name] for name in names])
    return (("\ufeff" if bom else "") + out.getvalue()).encode("utf-8")


def message(
    records: dict[str, list[dict[str, Any]]], *, header: dict[str, Any] | None = None, inherit: bool = True
) -> dict[str, Any]:
    """A JSON message; with ``inherit`` the records omit consortium_id/participant_id (the header's apply)."""
    head: dict[str, Any] = {
        "version": "1.0",
        "send_time": "20250601110000000",
        "consortium_id": "C01",
        "participant_id": "P001",
    }
    head.update(header or {})
    body: dict[str, Any] = {"header": head}
    for name, items in records.items():
        cleaned = []
        for item in items:
            values = {key: value for key, value in item.items() if value is not None}
            if inherit:
                for key in ("consortium_id", "participant_id"):
                    if values.get(key) == head.get(key):
                        values.pop(key)
            cleaned.append(values)
        body[name] = cleaned
    return body


def run_csv(
    files: list[tuple[str, bytes]],
    *,
    sender: str | None = SENDER,
    snapshot: RegistrySnapshot | None = None,
    now: datetime = NOW,
) -> CheckedBatch:
    raw = read_csv_files(files)
    return check(raw, snapshot or registry(), sender=sender, now=now)


def run_json(
    document: Any, *, sender: str | None = SENDER, snapshot: RegistrySnapshot | None = None, now: datetime = NOW
) -> CheckedBatch:
    raw = read_json_message(json.dumps(document, ensure_ascii=False).encode("utf-8"))
    return check(raw, snapshot or registry(), sender=sender, now=now)


def codes(issues: list[Issue]) -> list[tuple[str, str, str]]:
    return [(issue.code, issue.locator, issue.field) for issue in issues]
