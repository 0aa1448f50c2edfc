"""Registry snapshots: loaded from the database (SQLite and PostgreSQL) and merged with a batch's own entries."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from checker_rows import NOW, csv_bytes, row, run_csv
from sqlalchemy.orm import Session

from datahealth.auth.tables import OrgKind
from datahealth.exchange.check import check
from datahealth.exchange.pipeline import CheckedBatch
from datahealth.exchange.read_csv import read_csv_files
from datahealth.exchange.registry import RegistrySnapshot, load_registry, merge_registry
from datahealth.exchange.tables import table_for
from factories import make_org


def insert(db: Session, record_type: str, *rows: dict[str, Any]) -> None:
    db.execute(table_for(record_type).insert(), list(rows))


def participant(consortium: str, person: str, start: date, end: date | None = None) -> dict[str, Any]:
    return {
        "consortium_id": consortium,
        "participant_id": person,
        "birth_year_month": "198001",
        "sex_code": "2",
        "participation_start_date": start,
        "participation_end_date": end,
        "residence_prefecture_code": "13",
        "medication_code": "0",
    }


def seed(db: Session) -> None:
    make_org(db, code="C01", name="第一コンソーシアム", kind=OrgKind.CONSORTIUM)
    make_org(db, code="C02", name="第二コンソーシアム", kind=OrgKind.CONSORTIUM)
    make_org(db, code="C09", name="病院", kind=OrgKind.HOSPITAL)
    insert(
        db,
        "participant",
        participant("C01", "P001", date(2025, 1, 1)),
        participant("C01", "P002", date(2025, 1, 1), date(2025, 3, 31)),
        participant("C02", "P100", date(2025, 2, 1)),
    )
    insert(
        db,
        "device",
        {
            "model_manufacturer_code": "MAKER1",
            "model_number": "AM-100",
            "device_name": "活動量計",
            "device_category_code": "1",
            "time_correction_code": "0",
            "measured_items": "walk_time moderate_intensity_activity calories total_calories distance",
        },
    )
    insert(
        db,
        "lab",
        {"consortium_id": "C01", "lab_id": "LAB1", "lab_name": "検査センター", "lab_prefecture_code": "13"},
        {"consortium_id": "C02", "lab_id": "LAB9", "lab_name": "検査所", "lab_prefecture_code": "27"},
    )
    insert(db, "hba1c_method", {"method_code": "M1", "method_category_code": "1", "method_name": "HPLC"})
    db.flush()


def test_load_everything(db: Session) -> None:
    seed(db)
    snapshot = load_registry(db, None)
    assert snapshot.consortia == frozenset({"C01", "C02"})
    people = snapshot.participants.sort("participant_id")
    assert people["participant_id"].to_list() == ["P001", "P002", "P100"]
    assert people.schema["participation_start_date"] == pl.Date
    assert people["participation_end_date"].to_list() == [None, date(2025, 3, 31), None]
    assert snapshot.devices.row(0, named=True)["device_category_code"] == "1"
    assert snapshot.labs.height == 2
    assert snapshot.methods["method_code"].to_list() == ["M1"]


def test_load_one_consortium(db: Session) -> None:
    seed(db)
    snapshot = load_registry(db, ["C01"])
    assert snapshot.consortia == frozenset({"C01"})
    assert sorted(snapshot.participants["participant_id"].to_list()) == ["P001", "P002"]
    assert snapshot.labs["lab_id"].to_list() == ["LAB1"]
    assert snapshot.devices.height == 1  # shared by every consortium
    assert load_registry(db, ["C09"]).consortia == frozenset()  # a hospital is not a consortium


def test_empty_database(db: Session) -> None:
    snapshot = load_registry(db, None)
    assert snapshot.consortia == frozenset()
    assert snapshot.participants.schema == RegistrySnapshot.empty().participants.schema


def test_checking_against_the_stored_registries(db: Session) -> None:
    seed(db)
    snapshot = load_registry(db, ["C01"])
    rows = [
        row("activity"),
        row("activity", participant_id="P002", observation_time="20250401000000"),
        row("activity", consortium_id="C02", participant_id="P100", observation_time="20250302000000"),
    ]
    checked = run_csv([("activity.csv", csv_bytes(rows))], snapshot=snapshot)
    assert [(issue.code, issue.locator) for issue in checked.errors] == [("DH-X113", "line 3"), ("DH-X109", "line 4")]
    assert checked.frames["activity"].height == 1
    everyone = check(read_csv_files([("activity.csv", csv_bytes(rows[2:]))]), load_registry(db), sender=None, now=NOW)
    assert everyone.errors == []


def test_merge_adds_and_replaces_entries() -> None:
    from checker_rows import registry

    snapshot = registry()
    files = [
        (
            "participant.csv",
            csv_bytes([row("participant", participant_id="P003"), row("participant", participant_id="P002")]),
        ),
        ("consortium.csv", csv_bytes([row("consortium")])),
        ("device.csv", csv_bytes([row("device")])),
        ("lab.csv", csv_bytes([row("lab")])),
        ("hba1c_method.csv", csv_bytes([row("hba1c_method")])),
    ]
    checked = run_csv(files, sender=None)
    assert checked.errors == []
    merged = merge_registry(snapshot, checked)
    assert merged.consortia == frozenset({"C01", "C02", "C03"})
    people = merged.participants.filter(pl.col("consortium_id") == "C01").sort("participant_id")
    assert people["participant_id"].to_list() == ["P001", "P002", "P003"]
    assert people.filter(pl.col("participant_id") == "P002")["participation_end_date"].to_list() == [None]
    assert merged.devices.height == snapshot.devices.height + 1
    assert ("C01", "LAB2") in merged.labs.rows()
    assert sorted(merged.methods["method_code"].to_list()) == ["M1", "M2"]
    assert snapshot.participants.height == 3  # the original snapshot is not changed
    assert merge_registry(snapshot, CheckedBatch({}, [], {})) == snapshot


def test_a_scale_without_measured_items_can_be_registered():
    from datetime import UTC, datetime

    from datahealth.exchange.check import check
    from datahealth.exchange.read_csv import read_csv_files
    from datahealth.exchange.registry import RegistrySnapshot

    device_csv = (
        "model_manufacturer_code,model_number,device_name,device_category_code,time_correction_code,measured_items\n"
        "MK01,SCALE-1,体重計,2,0,\n"
    ).encode()
    checked = check(read_csv_files([("device.csv", device_csv)]), RegistrySnapshot.empty(), sender=None,
                    now=datetime(2025, 2, 1, tzinfo=UTC))
    assert checked.errors == []
    assert checked.frames["device"].height == 1
