"""Export stored exchange data as FHIR R4 NDJSON (Patient, Device, Observation), streamed.

One resource per line, ``json`` compact, keys in a fixed order and ids derived from the records'
identities (UUID v5), so exporting the same data twice gives byte-identical output. The mixed stream
is ordered per consortium: its Patients, then the Devices its records used, then Observations by
record type, participant and observation time; every reference points backwards. The CLI splits the
stream into one file per resource type (``Patient.ndjson`` …) as FHIR Bulk Data does.

What goes out about a person is only what the brief allows: the Patient carries the pseudonymous
participant ID (namespaced by consortium), the birth year-month and the gender, nothing else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy import Select, Table, func, select, union
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.errors import NotFound, Problem
from datahealth.exchange import fhir_map as fm
from datahealth.exchange import spec
from datahealth.exchange.spec_model import Field, Kind, RecordType
from datahealth.exchange.tables import table_for

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:datahealth:fhir")
"""UUID v5 namespace of every exported resource id."""
JST_OFFSET = "+09:00"
YIELD_PER = 2000
DEVICE_COLUMNS = ("model_manufacturer_code", "model_number", "production_specification_serial")

Resource = dict[str, Any]
Progress = Callable[[int, int], None]
SPECIMEN: Resource = {"resourceType": "Specimen", "id": "specimen", "type": {"coding": [fm.HBA1C_SPECIMEN.as_fhir()]}}
"""The contained specimen of an HbA1c result (JP_Observation_LabResult requires one)."""


# --- identifiers -----------------------------------------------------------------------------------


def resource_id(system: str, value: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{system}|{value}"))


@lru_cache(maxsize=65536)
def _escaped(part: str) -> str:
    return quote(part, safe="")


def key_of(parts: Iterable[str]) -> str:
    """Parts joined by ``/``, each percent-encoded (device codes may contain ``/`` or spaces)."""
    return "/".join(_escaped(part) for part in parts)


def participant_identifier(consortium_id: str, participant_id: str) -> dict[str, str]:
    return {"system": fm.identifier_system(consortium_id, "participant"), "value": participant_id}


def device_identifier(consortium_id: str, maker: str, model: str, serial: str) -> dict[str, str]:
    return {"system": fm.identifier_system(consortium_id, "device"), "value": key_of((maker, model, serial))}


def reference(resource_type: str, identifier: dict[str, str]) -> dict[str, Any]:
    """A literal reference (resolvable in the same export) that also carries the business identifier."""
    return {
        "reference": f"{resource_type}/{resource_id(identifier['system'], identifier['value'])}",
        "identifier": identifier,
    }


# --- values ----------------------------------------------------------------------------------------


def fhir_datetime(moment: datetime) -> str:
    """A stored (naive, Japan local) time as a FHIR dateTime with the +09:00 offset."""
    return moment.replace(microsecond=0).isoformat() + JST_OFFSET


def fhir_instant(moment: datetime) -> str:
    """update_time (millisecond precision) as a FHIR instant."""
    return moment.isoformat(timespec="milliseconds") + JST_OFFSET


def wire(field: Field, value: Any) -> str:
    """A stored value in the specification's text form (identity keys)."""
    if field.kind == Kind.DATETIME:
        return str(value.strftime("%Y%m%d%H%M%S"))
    if field.kind == Kind.DATE:
        return str(value.strftime("%Y%m%d"))
    return str(value)


def number(value: Any) -> int | float:
    """A stored number as JSON: integers stay integers, XXX.X decimals keep their one decimal place."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return value
    return int(value)


def _coding(field: Field, code: str) -> dict[str, str]:
    display = next((item.ja for item in field.codes if item.value == code), code)
    return {"system": fm.code_system(field.name), "code": code, "display": display}


def _quantity(value: Any, unit: fm.Unit) -> dict[str, Any]:
    return {"value": number(value), "unit": unit.unit, "system": fm.UCUM, "code": unit.code}


# --- resources -------------------------------------------------------------------------------------


def patient_resource(row: Mapping[str, Any]) -> Resource:
    """The pseudonymous Patient: identifier, birth year-month and gender, nothing more."""
    identifier = participant_identifier(row["consortium_id"], row["participant_id"])
    birth = str(row["birth_year_month"])
    return {
        "resourceType": "Patient",
        "id": resource_id(identifier["system"], identifier["value"]),
        "meta": {"profile": [fm.JP_PATIENT]},
        "identifier": [identifier],
        "gender": fm.SEX_TO_GENDER.get(str(row["sex_code"]), "unknown"),
        "birthDate": f"{birth[:4]}-{birth[4:6]}",
    }


def device_resource(consortium_id: str, row: Mapping[str, Any]) -> Resource:
    identifier = device_identifier(consortium_id, *(str(row[name]) for name in DEVICE_COLUMNS))
    resource: Resource = {
        "resourceType": "Device",
        "id": resource_id(identifier["system"], identifier["value"]),
        "meta": {"profile": [fm.JP_DEVICE]},
        "identifier": [identifier],
        "manufacturer": row["model_manufacturer_code"],
    }
    if row.get("device_name"):
        resource["deviceName"] = [{"name": row["device_name"], "type": "manufacturer-name"}]
    resource["modelNumber"] = row["model_number"]
    resource["serialNumber"] = row["production_specification_serial"]
    if row.get("device_category_code"):
        resource["type"] = {"coding": [_coding(spec.DEVICE.field("device_category_code"), row["device_category_code"])]}
    return resource


@dataclass(frozen=True)
class _Plan:
    """What is fixed for every record of one type (looked up once, not per record)."""

    record: RecordType
    entries: tuple[fm.ObservationMap, ...]
    identity: tuple[Field, ...]
    extensions: tuple[Field, ...]
    period: bool
    device: bool


@cache
def _plan(record_type: str) -> _Plan:
    record = spec.record_type(record_type)
    return _Plan(
        record,
        fm.observations_of(record_type),
        tuple(record.field(name) for name in record.identity if name != "consortium_id"),
        tuple(record.field(name) for name in fm.EXTENSION_FIELDS if name in record.names),
        "total_active_duration" in record.names,
        all(name in record.names for name in DEVICE_COLUMNS),
    )


@lru_cache(maxsize=4096)
def _cached_coding(field: Field, code: str) -> dict[str, str]:
    return _coding(field, code)


@lru_cache(maxsize=65536)
def _cached_reference(resource_type: str, system: str, value: str) -> dict[str, Any]:
    return reference(resource_type, {"system": system, "value": value})


def observation_resources(record_type: str, row: Mapping[str, Any]) -> list[Resource]:
    """The Observations of one stored record (one per measured value, or one panel).

    The parts every Observation of the record shares are built once and shared (never mutated).
    """
    plan = _plan(record_type)
    consortium_id = row["consortium_id"]
    shared: Resource = {
        "lastUpdated": fhir_instant(row["update_time"]),
        "key": key_of(wire(field, row[field.name]) for field in plan.identity),
        "system": fm.identifier_system(consortium_id, "observation"),
        "subject": _cached_reference(
            "Patient", fm.identifier_system(consortium_id, "participant"), row["participant_id"]
        ),
    }
    extensions = [
        {"url": fm.extension_url(field.name), "valueCoding": _cached_coding(field, str(row[field.name]))}
        for field in plan.extensions
        if row.get(field.name) is not None
    ]
    if extensions:
        shared["extension"] = extensions
    observed: datetime = row["observation_time"]
    if plan.period:
        end = observed + timedelta(minutes=int(row["total_active_duration"]))
        shared["effectivePeriod"] = {"start": fhir_datetime(observed), "end": fhir_datetime(end)}
    else:
        shared["effectiveDateTime"] = fhir_datetime(observed)
    if row.get("lab_id"):
        system = fm.identifier_system(consortium_id, "lab")
        shared["performer"] = [{"identifier": {"system": system, "value": row["lab_id"]}}]
    if row.get("hba1c_method_code"):
        shared["method"] = {"coding": [{"system": fm.METHOD_SYSTEM, "code": row["hba1c_method_code"]}]}
    if plan.device and all(row.get(name) for name in DEVICE_COLUMNS):
        device = device_identifier(consortium_id, *(str(row[name]) for name in DEVICE_COLUMNS))
        shared["device"] = _cached_reference("Device", device["system"], device["value"])
    daily = row.get("total_active_duration") == fm.DAY_MINUTES
    return [
        _observation(entry, row, shared, daily) for entry in plan.entries if row.get(entry.required_field) is not None
    ]


def _observation(entry: fm.ObservationMap, row: Mapping[str, Any], shared: Resource, daily: bool) -> Resource:
    identifier = {"system": shared["system"], "value": f"{_escaped(entry.item)}/{shared['key']}"}
    resource: Resource = {
        "resourceType": "Observation",
        "id": resource_id(identifier["system"], identifier["value"]),
        "meta": {"lastUpdated": shared["lastUpdated"], "profile": list(entry.profiles)},
    }
    if entry.category == "laboratory":
        resource["contained"] = [SPECIMEN]
    if "extension" in shared:
        resource["extension"] = shared["extension"]
    resource["identifier"] = [identifier]
    resource["status"] = "final"
    resource["category"] = [
        {"coding": [{"system": fm.OBSERVATION_CATEGORY, "code": entry.category}]},
        {"coding": [{"system": fm.JP_CATEGORY, "code": entry.jp_category}]},
    ]
    main = entry.measures[0]
    use_daily = daily and main.daily is not None and not entry.panel
    coded = entry.panel or (main.daily[0] if use_daily and main.daily else main.loinc)
    codings = [coded.as_fhir()] if coded else []
    codings.append({"system": fm.ITEM_SYSTEM, "code": entry.item, "display": entry.en})
    resource["code"] = {"coding": codings, "text": f"{entry.ja} / {entry.en}"}
    resource["subject"] = shared["subject"]
    for name in ("effectivePeriod", "effectiveDateTime", "performer"):
        if name in shared:
            resource[name] = shared[name]
    if entry.panel:
        resource["component"] = [
            {
                "code": {"coding": [measure.loinc.as_fhir()]},
                "valueQuantity": _quantity(row[measure.field], measure.unit),
            }
            for measure in entry.measures
            if measure.loinc and row.get(measure.field) is not None
        ]
    else:
        unit = main.daily[1] if use_daily and main.daily else main.unit
        resource["valueQuantity"] = _quantity(row[main.field], unit)
    if "method" in shared:
        resource["method"] = shared["method"]
    if entry.category == "laboratory":
        resource["specimen"] = {"reference": "#specimen"}
    if "device" in shared:
        resource["device"] = shared["device"]
    return resource


def line(resource: Resource) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


# --- queries ---------------------------------------------------------------------------------------


def _scoped(query: Select[Any], table: Table, consortium_id: str, participant_id: str | None) -> Select[Any]:
    query = query.where(table.c.consortium_id == consortium_id)
    if participant_id is not None:
        query = query.where(table.c.participant_id == participant_id)
    return query


def consortia_with_data(db: Session) -> list[str]:
    participants = table_for("participant")
    return list(db.scalars(select(participants.c.consortium_id).distinct().order_by(participants.c.consortium_id)))


def consortium_exists(db: Session, consortium_id: str) -> bool:
    """A registered consortium (an organisation of kind consortium) or one with registered participants."""
    organisation = select(Organisation.id).where(
        Organisation.kind == OrgKind.CONSORTIUM, Organisation.code == consortium_id
    )
    participants = table_for("participant")
    people = select(participants.c.id).where(participants.c.consortium_id == consortium_id)
    return db.scalar(organisation.limit(1)) is not None or db.scalar(people.limit(1)) is not None


def participant_exists(db: Session, consortium_id: str | None, participant_id: str) -> bool:
    if consortium_id is None:
        return False
    participants = table_for("participant")
    query = _scoped(select(func.count()).select_from(participants), participants, consortium_id, participant_id)
    return bool(db.scalar(query))


def count_records(db: Session, consortium_ids: Iterable[str], participant_id: str | None = None) -> int:
    """How many stored records an export covers (the progress bar's total)."""
    total = 0
    for consortium_id in consortium_ids:
        for record_type in fm.RECORD_TYPES:
            table = table_for(record_type)
            query = _scoped(select(func.count()).select_from(table), table, consortium_id, participant_id)
            total += int(db.scalar(query) or 0)
    return total


def _devices_query(consortium_id: str, participant_id: str | None) -> Select[Any]:
    used = union(
        *(
            _scoped(
                select(*(table_for(name).c[column] for column in DEVICE_COLUMNS)).distinct(),
                table_for(name),
                consortium_id,
                participant_id,
            )
            for name in fm.DEVICE_RECORD_TYPES
        )
    ).subquery()
    registry = table_for("device")
    return (
        select(used, registry.c.device_name, registry.c.device_category_code)
        .select_from(
            used.outerjoin(
                registry,
                (registry.c.model_manufacturer_code == used.c.model_manufacturer_code)
                & (registry.c.model_number == used.c.model_number),
            )
        )
        .order_by(*(used.c[column] for column in DEVICE_COLUMNS))
    )


def _records_query(record_type: str, consortium_id: str, participant_id: str | None) -> Select[Any]:
    record = spec.record_type(record_type)
    table = table_for(record_type)
    order = [
        "participant_id",
        "observation_time",
        *(name for name in record.identity if name not in ("consortium_id",)),
    ]
    columns = [table.c[name] for name in record.names]
    query = _scoped(select(*columns), table, consortium_id, participant_id)
    return query.order_by(*(table.c[name] for name in dict.fromkeys(order)))


def _stream(db: Session, query: Select[Any]) -> Iterator[Mapping[str, Any]]:
    for row in db.execute(query.execution_options(yield_per=YIELD_PER)):
        yield cast(Mapping[str, Any], row._mapping)  # keys are column names: every query selects plain columns


# --- export ----------------------------------------------------------------------------------------


def export_resources(
    db: Session,
    *,
    consortium_id: str | None,
    participant_id: str | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[str, str]]:
    """``(resource type, NDJSON line)`` for one consortium (``None``: every consortium) or one participant.

    Raises ``NotFound`` (DH-F103) before the first line when the consortium is unknown or the participant
    is not one of its participants, so a caller answers 404 for another tenant's participant exactly as
    for one that does not exist.
    """
    known = consortium_id is None or consortium_exists(db, consortium_id)
    if not known or (participant_id is not None and not participant_exists(db, consortium_id, participant_id)):
        shown = {"consortium": consortium_id or "*", "participant": participant_id or "*"}
        raise NotFound(Problem("DH-F103", shown))
    consortia = [consortium_id] if consortium_id is not None else consortia_with_data(db)
    total = count_records(db, consortia, participant_id) if progress else 0
    return _export(db, consortia, participant_id, progress, total)


def _export(
    db: Session, consortia: list[str], participant_id: str | None, progress: Progress | None, total: int
) -> Iterator[tuple[str, str]]:
    done = 0
    participants = table_for("participant")
    for consortium_id in consortia:
        query = _scoped(select(participants), participants, consortium_id, participant_id)
        for row in _stream(db, query.order_by(participants.c.participant_id)):
            yield "Patient", line(patient_resource(row))
        for row in _stream(db, _devices_query(consortium_id, participant_id)):
            yield "Device", line(device_resource(consortium_id, row))
        for record_type in fm.RECORD_TYPES:
            for row in _stream(db, _records_query(record_type, consortium_id, participant_id)):
                for resource in observation_resources(record_type, row):
                    yield "Observation", line(resource)
                done += 1
                if progress and done % 1000 == 0:
                    progress(done, total)
    if progress:
        progress(done, total)


def export_ndjson(db: Session, *, consortium_id: str | None, participant_id: str | None = None) -> Iterator[str]:
    """NDJSON lines (Patient, Device, Observation) of a consortium (``None``: all) or one of its participants."""
    resources = export_resources(db, consortium_id=consortium_id, participant_id=participant_id)
    return (text for _, text in resources)
