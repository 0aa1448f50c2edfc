"""Read FHIR NDJSON Observations back into a ``RawBatch``, so the same checker and store apply.

Each Observation is mapped back with ``fhir_map``: its kind from the hub item code (or, for
Observations made elsewhere, from its LOINC code), the participant from ``subject.identifier``, the
device from ``device.identifier``, times from ``effective[x]`` and ``meta.lastUpdated`` (converted to
Japan time), code fields from the hub extensions. The Observations of one record (an activity record
is up to eight) are merged into one row by the record's identity, whose locator lists their lines.
Values are passed on as the text the JSON holds (``65.0`` stays ``65.0``), so the checker sees exactly
what was sent and applies the same rules (digits, integers, codes, registries, resends).

The elements the hub maps are read strictly (type, form, unit); other elements are ignored, as FHIR
allows, except modifiers: ``modifierExtension`` and a ``status`` other than final / amended /
corrected make the Observation unusable. Full fhir.resources validation of every line would cost about
a millisecond each (measured: ~1,300 Observations/s), so it runs only to explain a line that cannot be
read. Patient and Device lines are validated in full (there are few), and their references may be used
by later Observations in the same file; registries are not changed by them.

Problems found here: a line that is not a usable FHIR resource → DH-F101 (``line N``); an Observation
the hub has no record field for → DH-F102; the same record field twice → DH-X120; Observations of one
record that disagree on a shared field → DH-X122. A record with any such problem is left out whole,
never half-stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import polars as pl
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from datahealth.exchange import fhir_map as fm
from datahealth.exchange import spec
from datahealth.exchange.pipeline import LOCATOR, SOURCE, Issue, RawBatch

JST = timezone(timedelta(hours=9))
MODELS: dict[str, Any] = {"Observation": Observation, "Patient": Patient, "Device": Device}
USABLE_STATUS = frozenset({"final", "amended", "corrected"})
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?")
NAMESPACE = re.compile(r"urn:datahealth:consortium:(?P<consortium>[^:]+):(?P<kind>[a-z]+)")
MAX_RULE = 200

Json = Mapping[str, Any]


class Unreadable(Exception):
    """One Observation cannot be mapped; carries the issue to report."""

    def __init__(self, code: str, rule: str = "", value: str = "", field_name: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.rule = rule
        self.value = value
        self.field_name = field_name


@dataclass
class _Group:
    record_type: str
    values: dict[str, str | None]
    lines: list[int]
    items: dict[str, int] = field(default_factory=dict)
    """Item code → the line that carried it."""
    rejected: bool = False


@dataclass
class _Reader:
    source: str
    issues: list[Issue] = field(default_factory=list)
    groups: dict[tuple[str, tuple[str | None, ...]], _Group] = field(default_factory=dict)
    patients: dict[str, tuple[str, str]] = field(default_factory=dict)
    devices: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def issue(
        self, number: int, code: str, *, record_type: str = "", name: str = "", value: str = "", rule: str = ""
    ) -> None:
        locator = f"line {number}"
        self.issues.append(Issue("error", code, self.source, locator, record_type, name, value[:200], rule[:MAX_RULE]))


def read_fhir_ndjson(data: bytes, source: str = "fhir.ndjson") -> RawBatch:
    """FHIR NDJSON (Observations, optionally with the Patients and Devices they refer to) → a RawBatch."""
    reader = _Reader(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        reader.issues.append(Issue("error", "DH-X114", source, ""))
        return RawBatch("fhir", [source], {}, reader.issues)
    for number, raw in _lines(text):
        _read_line(reader, number, raw)
    return RawBatch("fhir", [source], _frames(reader), reader.issues)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            yield number, raw


def _read_line(reader: _Reader, number: int, raw: str) -> None:
    try:
        resource = json.loads(raw, parse_float=Decimal)
    except ValueError as error:
        reader.issue(number, "DH-F101", rule=f"JSON: {error}")
        return
    except RecursionError:
        reader.issue(number, "DH-F101", rule="JSON: 入れ子が深すぎます / nested too deeply")
        return
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(kind, str) or kind not in MODELS:  # an object or array there is unhashable
        shown = kind if isinstance(kind, str) else "?"
        reader.issue(number, "DH-F101", value=shown, rule="resourceType: Observation / Patient / Device")
        return
    if kind != "Observation":
        problem = _invalid(kind, resource)
        if problem:
            reader.issue(number, "DH-F101", rule=problem)
        else:
            _remember(reader, kind, resource)
        return
    try:
        record_type, values, item = _observation(reader, resource)
    except Unreadable as unreadable:
        # Say what FHIR itself finds wrong with the line, if anything; otherwise what the hub needs.
        rule = (_invalid(kind, resource) if unreadable.code == "DH-F101" else "") or unreadable.rule
        reader.issue(number, unreadable.code, name=unreadable.field_name, value=unreadable.value, rule=rule)
        return
    _merge(reader, number, record_type, values, item)


def _invalid(kind: str, resource: Json) -> str:
    """fhir.resources (R4B models; Patient, Device and Observation are the same in R4): '' when valid."""
    try:
        MODELS[kind].model_validate(resource)
    except ValidationError as error:
        parts = [".".join(str(step) for step in item["loc"]) + f": {item['msg']}" for item in error.errors()[:3]]
        return f"FHIR {kind}: " + "; ".join(parts)
    return ""


# --- defensive access to parsed JSON ---------------------------------------------------------------


def _obj(value: object, path: str) -> Json:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Unreadable("DH-F101", rule=f"{path}: object")
    return value


def _items(value: object, path: str) -> list[Json]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Unreadable("DH-F101", rule=f"{path}: array of objects")
    return value


def _one_of(value: object, known: Collection[str]) -> bool:
    """``value in known`` for any parsed JSON value (an object or array there is unhashable: not one of them)."""
    return isinstance(value, str) and value in known


def _text(value: object, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Unreadable("DH-F101", value=str(value), rule=f"{path}: string")
    return value


# --- Patient and Device lines: targets of later references -----------------------------------------


def _remember(reader: _Reader, kind: str, resource: Json) -> None:
    wanted = "participant" if kind == "Patient" else "device"
    for identifier in resource.get("identifier") or []:
        consortium_id = _namespace(identifier.get("system"), wanted)
        value = identifier.get("value")
        if not consortium_id or not value or not resource.get("id"):
            continue
        target = f"{kind}/{resource['id']}"
        if kind == "Patient":
            reader.patients[target] = (consortium_id, value)
            return
        parts = _device_key(value)
        if parts:
            reader.devices[target] = parts
            return


def _namespace(system: object, kind: str) -> str | None:
    match = NAMESPACE.fullmatch(system) if isinstance(system, str) else None
    return match.group("consortium") if match and match.group("kind") == kind else None


def _device_key(value: object) -> tuple[str, str, str] | None:
    parts = value.split("/") if isinstance(value, str) else []
    if len(parts) != 3:
        return None
    maker, model, serial = (unquote(part) for part in parts)
    return maker, model, serial


# --- one Observation -------------------------------------------------------------------------------


def _observation(reader: _Reader, resource: Json) -> tuple[str, dict[str, str | None], str]:
    if resource.get("modifierExtension"):
        raise Unreadable("DH-F101", rule="modifierExtension: 解釈できない修飾拡張 / not understood")
    status = resource.get("status")
    if not _one_of(status, USABLE_STATUS):
        raise Unreadable("DH-F101", value=str(status), rule="status: final / amended / corrected")
    entry = _kind(resource)
    record = spec.record_type(entry.record_type)
    values: dict[str, str | None] = {}
    values["consortium_id"], values["participant_id"] = _subject(reader, resource)
    _effective(resource, record.names, values)
    updated = _obj(resource.get("meta"), "meta").get("lastUpdated")
    values["update_time"] = _instant(updated) if updated is not None else None
    if "production_specification_serial" in record.names:
        device = _device(reader, resource)
        for column, part in zip(
            ("model_manufacturer_code", "model_number", "production_specification_serial"), device, strict=True
        ):
            values[column] = part
    for extension in _items(resource.get("extension"), "extension"):
        carried = _extension_field(extension, record.names)
        if carried:
            values[carried] = _extension_code(extension, carried)
    if "lab_id" in record.names:
        values["lab_id"] = _lab(resource, values["consortium_id"])
    if "hba1c_method_code" in record.names:
        values["hba1c_method_code"] = _method(resource)
    values.update(_measures(entry, resource))
    return entry.record_type, values, entry.item


def _kind(resource: Json) -> fm.ObservationMap:
    codings = _items(_obj(resource.get("code"), "code").get("coding"), "code.coding")
    for coding in codings:
        if coding.get("system") == fm.ITEM_SYSTEM and _one_of(coding.get("code"), fm.BY_ITEM):
            return fm.BY_ITEM[coding["code"]]
    for coding in codings:
        if coding.get("system") != fm.LOINC:
            continue
        candidates = fm.by_loinc(str(coding.get("code")))
        if len(candidates) > 1:
            # 85354-9: a home reading comes from a device, a checkup/clinic reading does not.
            wanted = "blood_pressure" if resource.get("device") else "clinic_blood_pressure"
            candidates = [entry for entry in candidates if entry.record_type == wanted]
        if candidates:
            return candidates[0]
    shown = ", ".join(f"{coding.get('system', '')}|{coding.get('code', '')}" for coding in codings) or "?"
    raise Unreadable("DH-F102", value=shown)


def _subject(reader: _Reader, resource: Json) -> tuple[str, str]:
    subject = _obj(resource.get("subject"), "subject")
    identifier = _obj(subject.get("identifier"), "subject.identifier")
    consortium_id = _namespace(identifier.get("system"), "participant")
    value = _text(identifier.get("value"), "subject.identifier.value")
    if consortium_id and value:
        return consortium_id, value
    known = reader.patients.get(str(subject.get("reference")))
    if known:
        return known
    raise Unreadable(
        "DH-F101",
        field_name="participant_id",
        rule="subject.identifier (urn:datahealth:consortium:<ID>:participant) が必要 / is required",
    )


def _effective(resource: Json, names: tuple[str, ...], values: dict[str, str | None]) -> None:
    period = _obj(resource.get("effectivePeriod"), "effectivePeriod")
    moment = resource.get("effectiveDateTime") or period.get("start")
    if not moment:
        raise Unreadable("DH-F101", field_name="observation_time", rule="effectiveDateTime / effectivePeriod.start")
    start = _parse(moment)
    values["observation_time"] = start.strftime("%Y%m%d%H%M%S")
    if "total_active_duration" in names:
        values["total_active_duration"] = None
        if period.get("end"):
            minutes, rest = divmod((_parse(period["end"]) - start).total_seconds(), 60)
            if rest:
                raise Unreadable("DH-F101", field_name="total_active_duration", rule="effectivePeriod: whole minutes")
            values["total_active_duration"] = str(int(minutes))


def _parse(text: object) -> datetime:
    """A FHIR dateTime (at least a full date, whole seconds) → naive Japan time; no offset means Japan time."""
    if not isinstance(text, str):
        raise Unreadable("DH-F101", field_name="observation_time", value=str(text), rule="effective: dateTime")
    return _parse_text(text)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> datetime:
    match = DATETIME.fullmatch(text)
    fraction = match.group(2) if match else None
    if not match or (fraction and int(fraction[1:])):
        raise Unreadable("DH-F101", field_name="observation_time", value=text, rule="YYYY-MM-DDThh:mm:ss+09:00")
    return _jst(text)


def _jst(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise Unreadable("DH-F101", value=text, rule=str(error)) from error
    return moment.astimezone(JST).replace(tzinfo=None) if moment.tzinfo else moment


def _instant(text: object) -> str:
    """meta.lastUpdated → yyyyMMddHHmmssSSS in Japan time (anything finer than milliseconds is cut)."""
    match = DATETIME.fullmatch(text) if isinstance(text, str) else None
    if not isinstance(text, str) or not match or not match.group(1):
        raise Unreadable("DH-F101", field_name="update_time", value=str(text), rule="meta.lastUpdated: instant")
    moment = _jst(text)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def _device(reader: _Reader, resource: Json) -> tuple[str | None, str | None, str | None]:
    device = _obj(resource.get("device"), "device")
    if not device:
        return None, None, None
    identifier = _obj(device.get("identifier"), "device.identifier")
    parts = _device_key(identifier.get("value")) if _namespace(identifier.get("system"), "device") else None
    known = parts or reader.devices.get(str(device.get("reference")))
    if known:
        return known
    raise Unreadable(
        "DH-F101",
        field_name="production_specification_serial",
        rule="device.identifier (urn:datahealth:consortium:<ID>:device, maker/model/serial) が必要 / is required",
    )


def _extension_field(extension: Json, names: tuple[str, ...]) -> str | None:
    for name in fm.EXTENSION_FIELDS:
        if extension.get("url") == fm.extension_url(name) and name in names:
            return name
    return None


def _extension_code(extension: Json, name: str) -> str | None:
    coding = _obj(extension.get("valueCoding"), f"extension[{name}].valueCoding")
    if coding.get("system") not in (None, fm.code_system(name)):
        raise Unreadable("DH-F101", field_name=name, value=str(coding.get("system")), rule=fm.code_system(name))
    return _text(coding.get("code"), f"extension[{name}].valueCoding.code")


def _lab(resource: Json, consortium_id: str | None) -> str | None:
    for performer in _items(resource.get("performer"), "performer"):
        identifier = _obj(performer.get("identifier"), "performer.identifier")
        if consortium_id and identifier.get("system") == fm.identifier_system(consortium_id, "lab"):
            return _text(identifier.get("value"), "performer.identifier.value")
    return None


def _method(resource: Json) -> str | None:
    for coding in _items(_obj(resource.get("method"), "method").get("coding"), "method.coding"):
        if coding.get("system") == fm.METHOD_SYSTEM:
            return _text(coding.get("code"), "method.coding.code")
    return None


def _measures(entry: fm.ObservationMap, resource: Json) -> dict[str, str | None]:
    if not entry.panel:
        main = entry.measures[0]
        return {main.field: _value(main, resource.get("valueQuantity"))}
    values: dict[str, str | None] = dict.fromkeys(entry.fields)
    for component in _items(resource.get("component"), "component"):
        coded = _items(_obj(component.get("code"), "component.code").get("coding"), "component.code.coding")
        codes = {str(coding.get("code")) for coding in coded if coding.get("system") == fm.LOINC}
        measure = next((m for m in entry.measures if m.loinc and m.loinc.code in codes), None)
        if measure is None:
            raise Unreadable("DH-F102", value="component " + ", ".join(sorted(codes)))
        values[measure.field] = _value(measure, component.get("valueQuantity"))
    return values


def _value(measure: fm.Measure, given: object) -> str | None:
    quantity = _obj(given, f"{measure.field}: valueQuantity")
    value = quantity.get("value")
    if value is None:
        return None
    units = {measure.unit.code} | ({measure.daily[1].code} if measure.daily else set())
    if quantity.get("system") not in (None, fm.UCUM) or not _one_of(quantity.get("code"), units):
        raise Unreadable(
            "DH-F101",
            field_name=measure.field,
            value=str(quantity.get("code")),
            rule=f"valueQuantity: UCUM {' / '.join(sorted(units))}",
        )
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Unreadable("DH-F101", field_name=measure.field, value=str(value), rule="valueQuantity.value: number")
    return format(value, "f") if isinstance(value, Decimal) else str(value)


# --- records ---------------------------------------------------------------------------------------


def _merge(reader: _Reader, number: int, record_type: str, values: dict[str, str | None], item: str) -> None:
    record = spec.record_type(record_type)
    key = (record_type, tuple(values.get(name) for name in record.identity))
    group = reader.groups.get(key)
    if group is None:
        row: dict[str, str | None] = dict.fromkeys(record.names)
        row.update({name: value for name, value in values.items() if name in row})
        reader.groups[key] = _Group(record_type, row, [number], {item: number})
        return
    group.lines.append(number)
    if item in group.items:
        identity = ", ".join(record.identity)
        reader.issue(number, "DH-X120", record_type=record_type, value=f"line {group.items[item]}", rule=identity)
        group.rejected = True
        return
    group.items[item] = number
    for name, value in values.items():
        if name not in group.values or value is None:
            continue
        if group.values[name] is None:
            group.values[name] = value
        elif group.values[name] != value:
            first = f"line {min(group.items.values())}"
            reader.issue(number, "DH-X122", record_type=record_type, name=name, value=value, rule=first)
            group.rejected = True


def _frames(reader: _Reader) -> dict[str, pl.DataFrame]:
    rows: dict[str, list[dict[str, str | None]]] = {}
    for group in reader.groups.values():
        if group.rejected:
            continue
        locator = f"line {group.lines[0]}" if len(group.lines) == 1 else "lines " + ", ".join(map(str, group.lines))
        rows.setdefault(group.record_type, []).append({**group.values, SOURCE: reader.source, LOCATOR: locator})
    frames: dict[str, pl.DataFrame] = {}
    for record_type, records in rows.items():
        names = (*spec.record_type(record_type).names, SOURCE, LOCATOR)
        frames[record_type] = pl.DataFrame(records, schema=dict.fromkeys(names, pl.String))
    return frames
