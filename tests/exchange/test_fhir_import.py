"""FHIR import on its own: exported Observations read back to the exact wire text of every field, Observations
made elsewhere (LOINC only, references, other offsets), and every problem with its catalogued code and line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from test_fhir_data import C1, RECORDS

from datahealth.exchange import fhir_map as fm
from datahealth.exchange import spec
from datahealth.exchange.fhir_export import line, observation_resources
from datahealth.exchange.fhir_import import read_fhir_ndjson
from datahealth.exchange.pipeline import LOCATOR, SOURCE, RawBatch
from datahealth.exchange.spec_model import Kind


def wire(kind: Kind, value: Any) -> str | None:
    """A stored value as the sender wrote it."""
    if value is None:
        return None
    if kind == Kind.DATETIME:
        return str(value.strftime("%Y%m%d%H%M%S"))
    if kind == Kind.TIMESTAMP:
        return value.strftime("%Y%m%d%H%M%S") + f"{value.microsecond // 1000:03d}"
    return str(value)


def exported(record_type: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line(resource)) for resource in observation_resources(record_type, row)]


def ndjson(resources: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(resource, ensure_ascii=False) for resource in resources) + "\n").encode()


def read(resources: list[dict[str, Any]]) -> RawBatch:
    return read_fhir_ndjson(ndjson(resources), "upload.ndjson")


def codes(batch: RawBatch) -> list[tuple[str, str]]:
    return [(issue.code, issue.locator) for issue in batch.issues]


WEIGHT = RECORDS["weight"][0]
DAILY = RECORDS["activity"][0]


def test_every_field_reads_back_as_the_text_the_sender_wrote() -> None:
    everything = [resource for name, rows in RECORDS.items() for row in rows for resource in exported(name, row)]
    batch = read(everything)
    assert batch.issues == [] and batch.wire_format == "fhir" and batch.sources == ["upload.ndjson"]
    for record_type, rows in RECORDS.items():
        record = spec.record_type(record_type)
        frame = batch.frames[record_type]
        assert frame.columns == [*record.names, SOURCE, LOCATOR]
        assert all(dtype == pl.String for dtype in frame.dtypes)
        expected = [{f.name: wire(f.kind, row[f.name]) for f in record.fields} for row in rows]
        assert frame.drop(SOURCE, LOCATOR).to_dicts() == expected


def test_the_observations_of_one_record_become_one_row_that_names_their_lines() -> None:
    batch = read(exported("activity", DAILY))
    assert batch.frames["activity"].height == 1
    assert batch.frames["activity"][LOCATOR].to_list() == ["lines 1, 2, 3, 4, 5, 6, 7, 8"]
    assert batch.frames["activity"]["total_active_duration"].to_list() == ["1440"]


def test_numbers_keep_their_written_form_for_the_checker_to_judge() -> None:
    weight = exported("weight", WEIGHT)[0]
    weight["valueQuantity"]["value"] = 65  # an integer where XXX.X is expected
    steps = exported("activity", DAILY)[0]
    steps["valueQuantity"]["value"] = 8000.0  # a decimal where an integer is expected
    batch = read([weight, steps])
    assert batch.frames["weight"]["body_weight"].to_list() == ["65"]
    assert batch.frames["activity"]["step"].to_list() == ["8000.0"]


def test_observations_made_elsewhere_loinc_references_and_other_offsets() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "urn:datahealth:consortium:C01:participant", "value": "P001"}],
    }
    device = {
        "resourceType": "Device",
        "id": "d1",
        "identifier": [{"system": "urn:datahealth:consortium:C01:device", "value": "SYNW/SC-5/W-1"}],
    }
    weight = {
        "resourceType": "Observation",
        "status": "final",
        "meta": {"lastUpdated": "2025-01-04T22:15:01.123456Z"},
        "code": {"coding": [{"system": fm.LOINC, "code": "29463-7"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2025-01-04T22:15:00Z",
        "valueQuantity": {"value": 65.0, "system": fm.UCUM, "code": "kg"},
        "device": {"reference": "Device/d1"},
    }
    home = {**weight, "code": {"coding": [{"system": fm.LOINC, "code": "85354-9"}]}}
    del home["valueQuantity"]
    home["component"] = [
        {
            "code": {"coding": [{"system": fm.LOINC, "code": "8462-4"}]},
            "valueQuantity": {"value": 80, "code": "mm[Hg]"},
        },
        {
            "code": {"coding": [{"system": fm.LOINC, "code": "8480-6"}]},
            "valueQuantity": {"value": 120, "code": "mm[Hg]"},
        },
    ]
    clinic = {key: value for key, value in home.items() if key != "device"}
    clinic["effectiveDateTime"] = "2025-01-10"
    batch = read([patient, device, weight, home, clinic])
    assert batch.issues == []
    row = batch.frames["weight"].to_dicts()[0]
    assert (row["consortium_id"], row["participant_id"]) == (C1, "P001")
    assert row["observation_time"] == "20250105071500"  # 22:15 UTC is 07:15 the next day in Japan
    assert row["update_time"] == "20250105071501123"  # microseconds cut to milliseconds
    assert (row["model_manufacturer_code"], row["model_number"], row["production_specification_serial"]) == (
        "SYNW",
        "SC-5",
        "W-1",
    )
    assert row["body_weight"] == "65.0"
    home_row = batch.frames["blood_pressure"].to_dicts()[0]
    assert (home_row["systolic_bp"], home_row["diastolic_bp"], home_row["pulse_rate"]) == ("120", "80", None)
    clinic_row = batch.frames["clinic_blood_pressure"].to_dicts()[0]
    assert clinic_row["observation_time"] == "20250110000000"  # a date alone is taken as Japan midnight
    assert clinic_row["bp_context_code"] is None  # left for the checker to report as missing


@pytest.mark.parametrize(
    ("text", "rule_part"),
    [
        ("{not json", "JSON"),
        ("[1, 2]", "resourceType"),
        ('{"resourceType": "Bundle", "type": "collection"}', "resourceType"),
        ('{"resourceType": "Patient", "gender": 3}', "gender"),
    ],
)
def test_lines_that_are_not_fhir_resources_are_dh_f101_with_their_line(text: str, rule_part: str) -> None:
    weight = exported("weight", WEIGHT)[0]
    data = ndjson([weight]) + b"\n" + text.encode() + b"\n"
    batch = read_fhir_ndjson(data, "upload.ndjson")
    assert codes(batch) == [("DH-F101", "line 3")]  # the blank line 2 still counts
    assert rule_part in batch.issues[0].rule
    assert batch.frames["weight"].height == 1  # the good line is read


def mutated(change: str) -> dict[str, Any]:
    weight = exported("weight", WEIGHT)[0]
    if change == "no status":
        del weight["status"]
    elif change == "entered-in-error":
        weight["status"] = "entered-in-error"
    elif change == "modifier":
        weight["modifierExtension"] = [{"url": "urn:x", "valueBoolean": True}]
    elif change == "no subject identifier":
        weight["subject"] = {"reference": "Patient/unknown"}
    elif change == "pounds":
        weight["valueQuantity"] = {"value": 143.3, "unit": "lb", "system": fm.UCUM, "code": "[lb_av]"}
    elif change == "text value":
        weight["valueQuantity"]["value"] = "65.0"
    elif change == "year-month":
        weight["effectiveDateTime"] = "2025-01"
    elif change == "fractional seconds":
        weight["effectiveDateTime"] = "2025-01-05T07:15:00.5+09:00"
    elif change == "subject not an object":
        weight["subject"] = "P001"
    elif change == "foreign code system":
        weight["extension"][0]["valueCoding"]["system"] = "urn:other"
    return weight


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("no status", ""),
        ("entered-in-error", ""),
        ("modifier", ""),
        ("no subject identifier", "participant_id"),
        ("pounds", "body_weight"),
        ("text value", "body_weight"),
        ("year-month", "observation_time"),
        ("fractional seconds", "observation_time"),
        ("subject not an object", ""),
        ("foreign code system", "data_input_code"),
    ],
)
def test_observations_the_hub_cannot_use_are_dh_f101(change: str, field: str) -> None:
    batch = read([exported("weight", RECORDS["weight"][1])[0], mutated(change)])
    assert codes(batch) == [("DH-F101", "line 2")]
    assert batch.issues[0].field == field
    assert batch.issues[0].rule
    assert batch.frames["weight"].height == 1


def test_fhir_itself_explains_a_structurally_invalid_observation() -> None:
    batch = read([mutated("no status")])
    assert batch.issues[0].rule.startswith("FHIR Observation: status")


def test_unsupported_observation_codes_are_dh_f102() -> None:
    glucose = exported("weight", WEIGHT)[0]
    glucose["code"] = {"coding": [{"system": fm.LOINC, "code": "2339-0", "display": "Glucose"}]}
    systolic_alone = exported("weight", WEIGHT)[0]
    systolic_alone["code"] = {"coding": [{"system": fm.LOINC, "code": "8480-6"}]}
    panel = exported("blood_pressure", RECORDS["blood_pressure"][0])[0]
    panel["component"].append({"code": {"coding": [{"system": fm.LOINC, "code": "8478-0"}]}, "valueQuantity": {}})
    batch = read([glucose, systolic_alone, panel])
    assert codes(batch) == [("DH-F102", "line 1"), ("DH-F102", "line 2"), ("DH-F102", "line 3")]
    assert "2339-0" in batch.issues[0].value
    assert "8478-0" in batch.issues[2].value
    assert batch.frames == {}


def test_a_record_field_sent_twice_rejects_the_whole_record() -> None:
    parts = exported("activity", DAILY)
    batch = read([*parts, parts[0]])
    assert codes(batch) == [("DH-X120", "line 9")]
    assert batch.issues[0].value == "line 1" and batch.issues[0].record_type == "activity"
    assert "activity" not in batch.frames  # never half a record


def test_observations_of_one_record_that_disagree_reject_the_whole_record() -> None:
    parts = exported("activity", DAILY)
    parts[3]["meta"]["lastUpdated"] = "2025-01-06T01:02:03.005+09:00"
    other = exported("weight", WEIGHT)
    batch = read([*parts, *other])
    assert codes(batch) == [("DH-X122", "line 4")]
    issue = batch.issues[0]
    assert (issue.field, issue.value, issue.rule) == ("update_time", "20250106010203005", "line 1")
    assert list(batch.frames) == ["weight"]


def test_a_file_that_is_not_utf8_is_dh_x114() -> None:
    batch = read_fhir_ndjson('{"resourceType": "Observation", "note": "体重"}'.encode("shift_jis"), "sjis.ndjson")
    assert codes(batch) == [("DH-X114", "")] and batch.frames == {}


def test_time_zones_convert_to_japan_time() -> None:
    weight = exported("weight", WEIGHT)[0]
    weight["effectiveDateTime"] = "2025-01-05T00:15:00+02:00"
    batch = read([weight])
    assert batch.frames["weight"]["observation_time"].to_list() == [
        datetime(2025, 1, 5, 7, 15).strftime("%Y%m%d%H%M%S")
    ]
