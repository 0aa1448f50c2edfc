"""FHIR export: every resource validates as FHIR (fhir.resources), codes and units are the agreed LOINC/UCUM,
the Patient says nothing beyond the pseudonym, birth year-month and gender, output is deterministic."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from sqlalchemy.orm import Session
from test_fhir_data import C1, C2, resources, seed_records, seed_registries

from datahealth.errors import NotFound
from datahealth.exchange import fhir_map as fm
from datahealth.exchange.fhir_export import export_ndjson, export_resources

MODELS: dict[str, Any] = {"Patient": Patient, "Device": Device, "Observation": Observation}


@pytest.fixture
def hub(db: Session) -> Session:
    seed_registries(db)
    seed_records(db)
    db.commit()
    return db


def by_item(found: list[dict[str, Any]], item: str) -> list[dict[str, Any]]:
    return [
        resource
        for resource in found
        if any(coding.get("code") == item for coding in resource.get("code", {}).get("coding", []))
        and any(coding.get("system") == fm.ITEM_SYSTEM for coding in resource["code"]["coding"])
    ]


def codings(resource: dict[str, Any], system: str) -> list[str]:
    return [coding["code"] for coding in resource["code"]["coding"] if coding["system"] == system]


def test_every_exported_resource_validates_with_fhir_resources(hub: Session) -> None:
    lines = list(export_ndjson(hub, consortium_id=None))
    assert len(lines) == 4 + (6 + 1) + 26  # patients (both consortia), devices each used, observations
    for text in lines:
        kind = text[len('{"resourceType":"') :].split('"', 1)[0]
        model = MODELS[kind].model_validate_json(text)
        assert model.id
        # the model's own serialisation keeps every element we wrote (nothing silently dropped)
        assert model.model_dump(exclude_none=True, mode="json").keys() == resources([text])[0].keys()


def test_resource_counts_and_order_for_one_consortium(hub: Session) -> None:
    found = resources(export_ndjson(hub, consortium_id=C1))
    kinds = [resource["resourceType"] for resource in found]
    assert kinds == ["Patient"] * 3 + ["Device"] * 6 + ["Observation"] * 25
    assert {resource["identifier"][0]["system"] for resource in found if resource["resourceType"] == "Patient"} == {
        "urn:datahealth:consortium:C01:participant"
    }
    # every reference points at a resource earlier in the stream
    seen: set[str] = set()
    for resource in found:
        for key in ("subject", "device"):
            if key in resource:
                assert resource[key]["reference"] in seen
        seen.add(f"{resource['resourceType']}/{resource['id']}")


def test_patient_holds_only_the_pseudonym_birth_year_month_and_gender(hub: Session) -> None:
    patients = [r for r in resources(export_ndjson(hub, consortium_id=C1)) if r["resourceType"] == "Patient"]
    for patient in patients:
        assert set(patient) <= {"resourceType", "id", "meta", "identifier", "birthDate", "gender"}
        assert patient["meta"] == {"profile": [fm.JP_PATIENT]}
        assert len(patient["identifier"]) == 1
    assert [(p["identifier"][0]["value"], p["birthDate"], p["gender"]) for p in patients] == [
        ("P001", "1970-05", "male"),
        ("P002", "1985-12", "female"),
        ("P003", "1960-01", "other"),
    ]


def test_device_carries_maker_model_serial_and_registry_name(hub: Session) -> None:
    devices = {
        r["modelNumber"]: r for r in resources(export_ndjson(hub, consortium_id=C1)) if r["resourceType"] == "Device"
    }
    meter = devices["AM 100"]
    assert meter["manufacturer"] == "SYN/A"
    assert meter["serialNumber"] == "C01%0001"
    assert meter["identifier"] == [
        {"system": "urn:datahealth:consortium:C01:device", "value": "SYN%2FA/AM%20100/C01%250001"}
    ]
    assert meter["deviceName"] == [{"name": "活動量計", "type": "manufacturer-name"}]
    assert meter["meta"]["profile"] == [fm.JP_DEVICE]


def test_body_weight_blood_pressure_and_heart_rate(hub: Session) -> None:
    found = resources(export_ndjson(hub, consortium_id=C1))
    weight = by_item(found, "weight.body_weight")[0]
    assert codings(weight, fm.LOINC) == ["29463-7"]
    assert weight["valueQuantity"] == {"value": 65.0, "unit": "kg", "system": fm.UCUM, "code": "kg"}
    assert weight["effectiveDateTime"] == "2025-01-05T07:15:00+09:00"
    assert weight["meta"]["lastUpdated"] == "2025-01-05T07:15:01.123+09:00"
    assert weight["meta"]["profile"] == [fm.JP_OBSERVATION_BODY_MEASUREMENT, fm.VITAL_SIGNS_BODY_WEIGHT]
    assert [c["coding"][0]["code"] for c in weight["category"]] == ["vital-signs", "body-measurement"]

    panel = by_item(found, "blood_pressure")[0]
    assert codings(panel, fm.LOINC) == ["85354-9"]
    assert "valueQuantity" not in panel
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
        for c in panel["component"]
    ] == [("8480-6", 128, "mm[Hg]"), ("8462-4", 82, "mm[Hg]")]
    assert panel["meta"]["profile"] == [fm.JP_OBSERVATION_VITAL_SIGNS, fm.VITAL_SIGNS_BP]

    pulses = by_item(found, "blood_pressure.pulse_rate")
    assert len(pulses) == 1  # the second reading has no pulse: no heart-rate Observation
    assert codings(pulses[0], fm.LOINC) == ["8867-4"]
    assert pulses[0]["valueQuantity"]["code"] == "/min"
    assert pulses[0]["device"] == panel["device"]


def test_activity_codes_depend_on_the_aggregation_period(hub: Session) -> None:
    found = resources(export_ndjson(hub, consortium_id=C1, participant_id="P001"))
    steps = by_item(found, "activity.step")
    daily, hourly = steps
    assert codings(daily, fm.LOINC) == ["41950-7"]
    assert daily["valueQuantity"] == {"value": 8123, "unit": "steps/day", "system": fm.UCUM, "code": "/d"}
    assert daily["effectivePeriod"] == {"start": "2025-01-05T00:00:00+09:00", "end": "2025-01-06T00:00:00+09:00"}
    assert codings(hourly, fm.LOINC) == ["55423-8"]
    assert hourly["valueQuantity"]["code"] == "{steps}"
    assert hourly["effectivePeriod"]["end"] == "2025-01-06T10:00:00+09:00"
    totals = by_item(found, "activity.total_calories")
    assert [codings(t, fm.LOINC) for t in totals] == [["41979-6"], []]  # no LOINC for an hourly total
    assert [t["valueQuantity"]["code"] for t in totals] == ["kcal/d", "kcal"]
    calories = by_item(found, "activity.calories")[0]
    assert codings(calories, fm.LOINC) == ["41981-2"] and calories["valueQuantity"]["value"] == 312.5
    distance = by_item(found, "activity.distance")[0]
    assert codings(distance, fm.LOINC) == ["55430-3"] and distance["valueQuantity"]["code"] == "km"
    assert by_item(found, "activity.walk_time")[0]["valueQuantity"]["code"] == "min"
    assert by_item(found, "activity.exercise")[0]["valueQuantity"]["code"] == "{MET.h}"
    position = [e for e in daily["extension"] if e["url"] == fm.extension_url("measurement_position_code")]
    assert position[0]["valueCoding"]["code"] == "30"
    assert all(r["meta"]["profile"] == [fm.JP_OBSERVATION_COMMON] for r in steps)
    assert [c["coding"][0] for c in daily["category"]] == [
        {"system": fm.OBSERVATION_CATEGORY, "code": "activity"},
        {"system": fm.JP_CATEGORY, "code": "activity"},
    ]


def test_hba1c_is_a_jp_core_lab_result(hub: Session) -> None:
    hba1c = by_item(resources(export_ndjson(hub, consortium_id=C1)), "hba1c.hba1c")[0]
    assert codings(hba1c, fm.LOINC) == ["4548-4"]
    assert hba1c["valueQuantity"] == {"value": 6.8, "unit": "%", "system": fm.UCUM, "code": "%"}
    assert hba1c["meta"]["profile"] == [fm.JP_OBSERVATION_LAB_RESULT]
    assert hba1c["category"][1]["coding"][0] == {"system": fm.JP_CATEGORY, "code": "laboratory"}
    assert hba1c["code"]["text"]  # JP_Observation_LabResult: code.text 1..1
    assert hba1c["specimen"] == {"reference": "#specimen"} and hba1c["contained"][0]["id"] == "specimen"
    assert hba1c["performer"] == [{"identifier": {"system": "urn:datahealth:consortium:C01:lab", "value": "LAB1"}}]
    assert hba1c["method"]["coding"][0]["code"] == "M01"
    assert "device" not in hba1c


def test_identifiers_and_ids_are_deterministic_and_unique(hub: Session) -> None:
    first = list(export_ndjson(hub, consortium_id=None))
    assert first == list(export_ndjson(hub, consortium_id=None))
    found = resources(first)
    assert len({(r["resourceType"], r["id"]) for r in found}) == len(found)
    observations = [r for r in found if r["resourceType"] == "Observation"]
    assert len({r["identifier"][0]["value"] for r in observations}) == len(observations)
    clinic = by_item(found, "clinic_blood_pressure")
    assert [r["identifier"][0]["value"] for r in clinic] == [
        "clinic_blood_pressure/P002/20250110000000/1",
        "clinic_blood_pressure/P002/20250110000000/2",
    ]


def test_one_participant_and_tenancy(hub: Session) -> None:
    found = resources(export_ndjson(hub, consortium_id=C1, participant_id="P002"))
    patients = [r for r in found if r["resourceType"] == "Patient"]
    assert [p["identifier"][0]["value"] for p in patients] == ["P002"]
    assert {r["subject"]["identifier"]["value"] for r in found if r["resourceType"] == "Observation"} == {"P002"}
    assert [r["modelNumber"] for r in found if r["resourceType"] == "Device"] == ["SC-5"]
    with pytest.raises(NotFound):
        export_resources(hub, consortium_id=C1, participant_id="Q001")  # C02's participant
    with pytest.raises(NotFound):
        export_resources(hub, consortium_id=C1, participant_id="NOBODY")
    other = resources(export_ndjson(hub, consortium_id=C2))
    assert {r["resourceType"] for r in other} == {"Patient", "Device", "Observation"}
    assert all("C01" not in str(r) for r in other)


def test_progress_reports_records(hub: Session) -> None:
    seen: list[tuple[int, int]] = []
    lines = list(export_resources(hub, consortium_id=C1, progress=lambda done, total: seen.append((done, total))))
    assert seen[-1] == (10, 10)  # the consortium's stored records: 2 + 2 + 3 + 1 + 2
    assert {kind for kind, _ in lines} == {"Patient", "Device", "Observation"}
