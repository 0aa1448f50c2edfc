"""Every checking rule, triggered by a minimal CSV file and the same record as a JSON message.

Each case asserts the catalogued code, the place (CSV ``line 2`` / JSON pointer ``/activity/0``) and
the field, and that the record was rejected (or, for flags, stored with ``_flags``).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest
from checker_rows import NOW, VALID, codes, csv_bytes, message, registry, row, run_csv, run_json

from datahealth.errors import CATALOGUE
from datahealth.exchange.pipeline import FLAGS

# (record type, overrides, code, field)
ERROR_CASES: list[tuple[str, dict[str, str | None], str, str]] = [
    # DH-X101 required ● missing
    ("activity", {"step": None}, "DH-X101", "step"),
    ("hba1c", {"hba1c": None}, "DH-X101", "hba1c"),
    # DH-X108 ▲ missing where its condition holds (device measures it / device category / another field)
    ("activity", {"walk_time": None}, "DH-X108", "walk_time"),
    ("activity", {"calories": None}, "DH-X108", "calories"),
    ("activity", {"measurement_position_code": None}, "DH-X108", "measurement_position_code"),
    ("blood_pressure", {"pulse_rate": None}, "DH-X108", "pulse_rate"),
    ("clinic_blood_pressure", {"lab_id": None}, "DH-X108", "lab_id"),
    # DH-X102 digits / length
    ("activity", {"step": "100000"}, "DH-X102", "step"),
    ("activity", {"walk_time": "12345"}, "DH-X102", "walk_time"),
    ("activity", {"calories": "12345.6"}, "DH-X102", "calories"),
    ("activity", {"calories": "12345"}, "DH-X102", "calories"),
    ("activity", {"model_number": "M" * 51}, "DH-X102", "model_number"),
    ("activity", {"observation_time": "2025030100000"}, "DH-X102", "observation_time"),
    ("activity", {"update_time": "20250302120000"}, "DH-X102", "update_time"),
    # DH-X118 form / pattern
    ("activity", {"participant_id": "P 001"}, "DH-X118", "participant_id"),
    ("activity", {"consortium_id": "c01"}, "DH-X118", "consortium_id"),
    ("activity", {"observation_time": "2025-03-01 00:00"}, "DH-X118", "observation_time"),
    ("activity", {"calories": "250.55"}, "DH-X118", "calories"),
    ("activity", {"calories": "-1.0"}, "DH-X118", "calories"),
    ("activity", {"calories": ".5"}, "DH-X118", "calories"),
    ("activity", {"step": "-5"}, "DH-X118", "step"),
    ("activity", {"step": "+5"}, "DH-X118", "step"),
    ("activity", {"model_manufacturer_code": "メーカー"}, "DH-X118", "model_manufacturer_code"),
    # DH-X103 impossible dates and times
    ("activity", {"observation_time": "20250230000000"}, "DH-X103", "observation_time"),
    ("activity", {"observation_time": "20250301250000"}, "DH-X103", "observation_time"),
    ("activity", {"observation_time": "20250301006000"}, "DH-X103", "observation_time"),
    ("activity", {"observation_time": "20251301000000"}, "DH-X103", "observation_time"),
    ("activity", {"observation_time": "18991231000000"}, "DH-X103", "observation_time"),
    ("activity", {"update_time": "20230229120000000"}, "DH-X103", "update_time"),
    ("participant", {"participation_start_date": "20250431"}, "DH-X103", "participation_start_date"),
    ("participant", {"birth_year_month": "198013"}, "DH-X103", "birth_year_month"),
    # DH-X104 future (receipt 2025-06-01 12:00 JST)
    ("activity", {"observation_time": "20250602000000"}, "DH-X104", "observation_time"),
    ("activity", {"update_time": "20250601120600000"}, "DH-X104", "update_time"),
    ("participant", {"birth_year_month": "202507"}, "DH-X104", "birth_year_month"),
    # DH-X105 decimals where integers are required
    ("activity", {"step": "12.0"}, "DH-X105", "step"),
    ("activity", {"step": "12.5"}, "DH-X105", "step"),
    ("blood_pressure", {"systolic_bp": "120."}, "DH-X105", "systolic_bp"),
    # DH-X117 not a number
    ("activity", {"step": "abc"}, "DH-X117", "step"),
    ("activity", {"step": "1,000"}, "DH-X117", "step"),
    ("activity", {"calories": "1e3"}, "DH-X117", "calories"),
    ("activity", {"step": " 12"}, "DH-X117", "step"),
    # DH-X107 full-width digits, before any other format rule
    ("activity", {"step": "１２３"}, "DH-X107", "step"),
    ("activity", {"calories": "２５０.５"}, "DH-X107", "calories"),
    ("activity", {"observation_time": "２０２５０３０１０００００００"}, "DH-X107", "observation_time"),
    ("activity", {"data_input_code": "０"}, "DH-X107", "data_input_code"),
    ("activity", {"participant_id": "P００１"}, "DH-X107", "participant_id"),
    # DH-X106 code not in its list
    ("activity", {"data_input_code": "3"}, "DH-X106", "data_input_code"),
    ("activity", {"measurement_position_code": "12"}, "DH-X106", "measurement_position_code"),
    ("clinic_blood_pressure", {"bp_context_code": "3"}, "DH-X106", "bp_context_code"),
    # DH-X109 unknown or foreign consortium
    ("activity", {"consortium_id": "C99"}, "DH-X109", "consortium_id"),
    ("activity", {"consortium_id": "C02", "participant_id": "P100"}, "DH-X109", "consortium_id"),
    # DH-X110 unknown participant
    ("activity", {"participant_id": "P999"}, "DH-X110", "participant_id"),
    # DH-X111 unknown device
    ("activity", {"model_number": "AM-999"}, "DH-X111", "model_number"),
    ("activity_recording", {"model_manufacturer_code": "NOBODY"}, "DH-X111", "model_number"),
    # DH-X112 unknown lab or HbA1c method
    ("hba1c", {"lab_id": "LABX"}, "DH-X112", "lab_id"),
    ("hba1c", {"lab_id": "LAB9"}, "DH-X112", "lab_id"),
    ("hba1c", {"hba1c_method_code": "MX"}, "DH-X112", "hba1c_method_code"),
    ("clinic_blood_pressure", {"lab_id": "LABX"}, "DH-X112", "lab_id"),
    # DH-X113 outside the participation period
    ("activity", {"observation_time": "20241231235959"}, "DH-X113", "observation_time"),
    ("activity", {"participant_id": "P002", "observation_time": "20250401000000"}, "DH-X113", "observation_time"),
    # DH-X122 participation end before start
    ("participant", {"participation_end_date": "20241231"}, "DH-X122", "participation_end_date"),
    # DH-X118 measured_items naming something that is not a ▲ item
    ("device", {"measured_items": "walk_time shoe_size"}, "DH-X118", "measured_items"),
]

JSON_TYPES = ("activity", "weight", "blood_pressure", "hba1c", "clinic_blood_pressure", "participant", "lab")


def test_every_case_uses_a_catalogued_code() -> None:
    assert {code for _, _, code, _ in ERROR_CASES} <= set(CATALOGUE)


@pytest.mark.parametrize(("record_type", "overrides", "code", "field"), ERROR_CASES)
def test_error_in_csv(record_type: str, overrides: dict[str, str | None], code: str, field: str) -> None:
    checked = run_csv([(f"{record_type}.csv", csv_bytes([row(record_type, **overrides)]))])
    assert (code, "line 2", field) in codes(checked.errors), codes(checked.errors)
    assert checked.frames[record_type].height == 0
    assert checked.rejected(record_type) == 1
    issue = next(issue for issue in checked.errors if issue.code == code)
    assert issue.source == f"{record_type}.csv"
    assert issue.record_type == record_type
    assert issue.message("ja") and issue.message("en")
    if code not in ("DH-X101", "DH-X108"):
        assert issue.value


@pytest.mark.parametrize(
    ("record_type", "overrides", "code", "field"),
    [
        case
        for case in ERROR_CASES
        if case[0] in JSON_TYPES
        and "consortium_id" not in case[1]
        and case[3] != "participant_id"
        or case[2] == "DH-X110"
    ],
)
def test_error_in_json(record_type: str, overrides: dict[str, str | None], code: str, field: str) -> None:
    participant = overrides.get("participant_id") or VALID[record_type]["participant_id"]
    document = message({record_type: [row(record_type, **overrides)]}, header={"participant_id": participant})
    checked = run_json(document)
    assert (code, f"/{record_type}/0", field) in codes(checked.errors), codes(checked.errors)
    assert checked.frames[record_type].height == 0


def test_a_header_error_rejects_the_whole_message() -> None:
    document = message({"activity": [row("activity")]}, header={"participant_id": "P 001"})
    checked = run_json(document)
    assert codes(checked.errors) == [("DH-X118", "/header", "participant_id")]
    assert checked.frames == {}


def test_valid_rows_of_every_type_pass() -> None:
    files = [(f"{name}.csv", csv_bytes([row(name)])) for name in VALID]
    checked = run_csv(files, sender=None)
    assert checked.issues == []
    for name in VALID:
        assert checked.frames[name].height == 1, name
        assert checked.frames[name][FLAGS].to_list() == [""]


def test_valid_message_passes() -> None:
    records = {name: [row(name)] for name in ("activity", "weight", "blood_pressure", "hba1c", "clinic_blood_pressure")}
    checked = run_json(message(records))
    assert checked.issues == []
    assert all(checked.frames[name].height == 1 for name in records)


def test_condition_not_holding_allows_a_missing_conditional_field() -> None:
    app = row(
        "activity",
        model_manufacturer_code="MAKER2",
        model_number="APP 1.0",
        walk_time=None,
        moderate_intensity_activity=None,
        total_calories=None,
        distance=None,
        measurement_position_code=None,
    )
    clinic = row("clinic_blood_pressure", bp_context_code="2", lab_id=None)
    checked = run_csv([("activity.csv", csv_bytes([app])), ("clinic_blood_pressure.csv", csv_bytes([clinic]))])
    assert checked.errors == []
    assert checked.frames["activity"]["walk_time"].to_list() == [None]


def test_absent_conditional_column_is_read_as_empty() -> None:
    values = row("activity", model_manufacturer_code="MAKER2", model_number="APP 1.0")
    columns = [name for name in values if name not in ("walk_time", "moderate_intensity_activity", "total_calories")]
    columns = [name for name in columns if name not in ("distance", "measurement_position_code")]
    checked = run_csv([("activity.csv", csv_bytes([values], columns=columns))])
    assert checked.errors == []
    assert checked.frames["activity"].columns[:3] == ["consortium_id", "participant_id", "observation_time"]


def test_every_error_of_a_row_is_reported_once_per_field() -> None:
    bad = row("activity", step="12.5", calories="１", data_input_code="7", update_time="20250230000000000")
    checked = run_csv([("activity.csv", csv_bytes([bad]))])
    assert codes(checked.errors) == [
        ("DH-X105", "line 2", "step"),
        ("DH-X107", "line 2", "calories"),
        ("DH-X106", "line 2", "data_input_code"),
        ("DH-X103", "line 2", "update_time"),
    ]


def test_unknown_consortium_is_not_also_an_unknown_participant() -> None:
    checked = run_csv([("activity.csv", csv_bytes([row("activity", consortium_id="C99")]))])
    assert [issue.code for issue in checked.errors] == ["DH-X109"]


def test_secretariat_may_send_for_any_registered_consortium() -> None:
    values = row("activity", consortium_id="C02", participant_id="P100")
    assert run_csv([("activity.csv", csv_bytes([values]))], sender=None).errors == []
    assert [i.code for i in run_csv([("activity.csv", csv_bytes([values]))], sender="C01").errors] == ["DH-X109"]


def test_clock_skew_tolerance_is_five_minutes() -> None:
    local_now = "20250601120000"
    within = row("activity", observation_time=local_now, update_time="20250601120459999")
    beyond = row("activity", observation_time="20250601120501", update_time="20250601120000000")
    checked = run_csv([("activity.csv", csv_bytes([within, beyond]))])
    assert codes(checked.errors) == [("DH-X104", "line 3", "observation_time")]
    later = run_csv([("activity.csv", csv_bytes([beyond]))], now=NOW + timedelta(minutes=1))
    assert later.errors == []


def test_duplicates_keep_the_first_and_reject_the_later_ones() -> None:
    first = row("activity")
    again = row("activity", step="9000")
    other = row("activity", observation_time="20250302000000")
    checked = run_csv([("activity.csv", csv_bytes([first, other, again, again]))])
    assert codes(checked.errors) == [("DH-X120", "line 4", ""), ("DH-X120", "line 5", "")]
    assert {issue.value for issue in checked.errors} == {"line 2"}
    kept = checked.frames["activity"]
    assert kept["_locator"].to_list() == ["line 2", "line 3"]
    assert kept["step"].to_list() == [8000, 8000]


def test_duplicates_across_files_name_the_other_file() -> None:
    checked = run_csv(
        [("activity.csv", csv_bytes([row("activity")])), ("activity-2.csv", csv_bytes([row("activity")]))]
    )
    assert codes(checked.errors) == [("DH-X120", "line 2", "")]
    assert checked.errors[0].source == "activity-2.csv"
    assert checked.errors[0].value == "activity.csv line 2"


def test_a_rejected_row_does_not_count_as_the_first_occurrence() -> None:
    broken = row("activity", data_input_code="9")
    checked = run_csv([("activity.csv", csv_bytes([broken, row("activity")]))])
    assert codes(checked.errors) == [("DH-X106", "line 2", "data_input_code")]
    assert checked.frames["activity"]["_locator"].to_list() == ["line 3"]


def test_duplicates_in_json() -> None:
    checked = run_json(message({"activity": [row("activity"), row("activity")]}))
    assert codes(checked.errors) == [("DH-X120", "/activity/1", "")]
    assert checked.errors[0].value == "/activity/0"


def test_implausible_values_are_stored_and_flagged() -> None:
    steps = row("activity", step="70000")
    inverted = row("blood_pressure", systolic_bp="80", diastolic_bp="90")
    both = row("blood_pressure", observation_time="20250302071500", systolic_bp="50", diastolic_bp="50")
    checked = run_csv([("activity.csv", csv_bytes([steps])), ("blood_pressure.csv", csv_bytes([inverted, both]))])
    assert checked.errors == []
    assert [(i.source, i.code, i.locator, i.field, i.value) for i in checked.flags] == [
        ("blood_pressure.csv", "DH-W202", "line 2", "systolic_bp", "80/90"),
        ("blood_pressure.csv", "DH-W201", "line 3", "systolic_bp", "50"),
        ("blood_pressure.csv", "DH-W202", "line 3", "systolic_bp", "50/50"),
        ("activity.csv", "DH-W201", "line 2", "step", "70000"),
    ]
    assert all(issue.severity == "flag" for issue in checked.flags)
    assert checked.frames["activity"][FLAGS].to_list() == ["DH-W201"]
    assert checked.frames["blood_pressure"][FLAGS].to_list() == ["DH-W202", "DH-W201 DH-W202"]
    assert checked.flags[-1].rule == "0–60000"
    assert checked.flags[1].rule == "60–260"


def test_flags_are_not_reported_for_rejected_rows() -> None:
    checked = run_csv([("activity.csv", csv_bytes([row("activity", step="70000", data_input_code="5")]))])
    assert [issue.code for issue in checked.issues] == ["DH-X106"]


def test_typed_output_columns() -> None:
    files = [(f"{name}.csv", csv_bytes([row(name)])) for name in VALID]
    checked = run_csv(files, sender=None)
    activity = checked.frames["activity"]
    assert activity.schema["observation_time"] == pl.Datetime("us")
    assert activity.schema["update_time"] == pl.Datetime("us")
    assert activity.schema["step"] == pl.Int64
    assert activity.schema["calories"] == pl.Decimal(6, 1)
    assert activity.schema["distance"] == pl.Decimal(5, 1)
    assert activity.schema["data_input_code"] == pl.String
    assert activity.row(0, named=True)["update_time"].microsecond == 123_000
    assert activity["calories"].to_list() == [Decimal("250.5")]
    participant = checked.frames["participant"]
    assert participant.schema["participation_start_date"] == pl.Date
    assert participant.schema["birth_year_month"] == pl.String
    assert participant["participation_end_date"].to_list() == [None]
    assert checked.frames["hba1c"].schema["hba1c"] == pl.Decimal(4, 1)
    assert list(activity.columns[-3:]) == ["_source", "_locator", "_flags"]


def test_a_decimal_field_accepts_a_whole_number() -> None:
    checked = run_csv([("activity.csv", csv_bytes([row("activity", calories="2000", total_calories="1800")]))])
    assert checked.errors == []
    assert checked.frames["activity"]["calories"].to_list() == [Decimal("2000.0")]


def test_registries_in_the_same_batch_count() -> None:
    person = row("participant", participant_id="P003")
    device = row("device")
    activity = row(
        "activity",
        participant_id="P003",
        model_manufacturer_code="MAKER9",
        model_number="X-1",
        moderate_intensity_activity=None,
        calories=None,
        total_calories=None,
        distance=None,
    )
    files = [("activity.csv", csv_bytes([activity])), ("participant.csv", csv_bytes([person]))]
    files.append(("device.csv", csv_bytes([device])))
    checked = run_csv(files, sender=None)
    assert checked.errors == []
    assert checked.frames["activity"].height == 1
    without = run_csv(files[:1], sender=None)
    assert [issue.code for issue in without.errors] == ["DH-X110", "DH-X111"]


def test_a_rejected_registry_row_does_not_register() -> None:
    person = row("participant", participant_id="P003", sex_code="5")
    activity = row("activity", participant_id="P003")
    checked = run_csv([("participant.csv", csv_bytes([person])), ("activity.csv", csv_bytes([activity]))])
    assert [(i.code, i.source) for i in checked.errors] == [("DH-X106", "participant.csv"), ("DH-X110", "activity.csv")]


def test_registry_entries_of_the_batch_replace_stored_ones() -> None:
    ended = row("participant", participant_id="P001", participation_end_date="20250228")
    activity = row("activity")  # 2025-03-01: after the new end date
    checked = run_csv([("participant.csv", csv_bytes([ended])), ("activity.csv", csv_bytes([activity]))])
    assert codes(checked.errors) == [("DH-X113", "line 2", "observation_time")]
    assert checked.errors[0].rule == "20250101–20250228"


def test_received_and_rejected_counts() -> None:
    rows = [row("activity"), row("activity", observation_time="20250302000000", step="x")]
    checked = run_csv([("activity.csv", csv_bytes(rows))])
    assert checked.received == {"activity": 2}
    assert checked.rejected("activity") == 1


def test_issue_values_are_cut_to_a_readable_length() -> None:
    checked = run_csv([("activity.csv", csv_bytes([row("activity", model_number="M" * 500)]))])
    assert len(checked.errors[0].value) == 100


def test_no_snapshot_means_nothing_is_registered() -> None:
    from datahealth.exchange.registry import RegistrySnapshot

    checked = run_csv([("activity.csv", csv_bytes([row("activity")]))], snapshot=RegistrySnapshot.empty())
    assert [issue.code for issue in checked.errors] == ["DH-X109", "DH-X111"]


def test_registry_fixture_is_what_the_cases_assume() -> None:
    snapshot = registry()
    assert snapshot.consortia == frozenset({"C01", "C02"})
    assert snapshot.participants.height == 3


def test_foreign_or_unknown_consortium_in_a_json_message() -> None:
    for consortium, participant in (("C99", "P001"), ("C02", "P100")):
        document = message(
            {"activity": [row("activity", consortium_id=consortium, participant_id=participant)]},
            header={"consortium_id": consortium, "participant_id": participant},
        )
        checked = run_json(document)
        assert codes(checked.errors) == [("DH-X109", "/activity/0", "consortium_id")]


def test_flags_in_a_json_message() -> None:
    document = message({"blood_pressure": [row("blood_pressure", systolic_bp="300", diastolic_bp="100")]})
    checked = run_json(document)
    assert checked.errors == []
    assert codes(checked.flags) == [("DH-W201", "/blood_pressure/0", "systolic_bp")]
    assert checked.frames["blood_pressure"][FLAGS].to_list() == ["DH-W201"]
