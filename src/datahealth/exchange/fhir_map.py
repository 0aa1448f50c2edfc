"""How the exchange hub's records map to FHIR R4 (4.0.1): the table as data, shared by export and import.

One record becomes one or more Observations (``OBSERVATIONS``): one per measured value, or one panel
with components (blood pressure). Every field of a record has exactly one home in FHIR (``CARRIERS``),
so an exported record can be read back field for field (``fhir_import``) and a test checks that no
field of the specification is left without one. ``docs/fhir-mapping.md`` describes the same table.

Sources (checked when this table was written):

- LOINC codes and UCUM units of the FHIR R4 vital-signs profiles (body weight 29463-7 kg, blood
  pressure panel 85354-9 with 8480-6 / 8462-4 mm[Hg], heart rate 8867-4 /min);
- the HL7 Physical Activity IG (STU1, FHIR R4) time-based measures: 41950-7 steps in 24 hour (/d),
  41979-6 calories burned in 24 hour (kcal/d); LOINC's pedometer panel 55413-9 members 55423-8 (steps,
  unspecified time) and 55430-3 (walking distance, unspecified time);
- LOINC 4548-4 Hemoglobin A1c/Hemoglobin.total in Blood (%, the NGSP value);
- JP Core v1.2 (jami-fhir-jp-wg/jp-core-v1x, FHIR 4.0.1) profiles JP_Patient, JP_Device (provisional),
  JP_Observation_Common, JP_Observation_VitalSigns, JP_Observation_BodyMeasurement (JP Core files body
  weight under body measurement, there is no JP_Observation_BodyWeight) and JP_Observation_LabResult;
  their first category slice is JP_SimpleObservationCategory_CS.

Codes the hub defines itself (item codes, code lists of the specification, extensions, identifier
systems) are URNs under ``urn:datahealth:`` derived from the specification's physical names.
"""

from __future__ import annotations

from dataclasses import dataclass

from datahealth.exchange import spec

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
JP_CATEGORY = "http://jpfhir.jp/fhir/core/CodeSystem/JP_SimpleObservationCategory_CS"
SNOMED = "http://snomed.info/sct"

JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/"
JP_PATIENT = JP_CORE + "JP_Patient"
JP_DEVICE = JP_CORE + "JP_Device"
JP_OBSERVATION_COMMON = JP_CORE + "JP_Observation_Common"
JP_OBSERVATION_VITAL_SIGNS = JP_CORE + "JP_Observation_VitalSigns"
JP_OBSERVATION_BODY_MEASUREMENT = JP_CORE + "JP_Observation_BodyMeasurement"
JP_OBSERVATION_LAB_RESULT = JP_CORE + "JP_Observation_LabResult"
FHIR_PROFILE = "http://hl7.org/fhir/StructureDefinition/"
VITAL_SIGNS_BODY_WEIGHT = FHIR_PROFILE + "bodyweight"
VITAL_SIGNS_BP = FHIR_PROFILE + "bp"
VITAL_SIGNS_HEART_RATE = FHIR_PROFILE + "heartrate"

HUB = "urn:datahealth"
ITEM_SYSTEM = f"{HUB}:exchange:item"
"""The hub's own code for every exported Observation (``weight.body_weight``, ``blood_pressure`` …)."""
METHOD_SYSTEM = f"{HUB}:exchange:hba1c_method"
"""HbA1c method codes of the (shared) HbA1c method list."""

DAY_MINUTES = 1440
"""An activity record that aggregates exactly this many minutes is a daily record (24-hour LOINC codes)."""

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+ndjson"


def code_system(field: str) -> str:
    """The code system of one of the specification's code lists (``data_input_code`` …)."""
    return f"{HUB}:exchange:code:{field}"


def extension_url(field: str) -> str:
    """The hub extension that carries one record field FHIR has no element for."""
    return f"{HUB}:exchange:extension:{field}"


def identifier_system(consortium_id: str, kind: str) -> str:
    """A consortium's namespace for participants, devices, labs and observations."""
    return f"{HUB}:consortium:{consortium_id}:{kind}"


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str

    def as_fhir(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Unit:
    code: str
    """UCUM code."""
    unit: str
    """Human-readable unit (``Quantity.unit``)."""


@dataclass(frozen=True)
class Measure:
    """One value field: its LOINC code (if LOINC has one that fits exactly) and UCUM unit."""

    field: str
    loinc: Coding | None
    unit: Unit
    daily: tuple[Coding, Unit] | None = None
    """For activity: the 24-hour LOINC code and unit used when the record aggregates exactly one day."""


@dataclass(frozen=True)
class ObservationMap:
    """One kind of exported Observation."""

    record_type: str
    item: str
    """The hub's item code (``ITEM_SYSTEM``); unique across the table, read back first on import."""
    ja: str
    en: str
    measures: tuple[Measure, ...]
    category: str
    """``observation-category`` code: vital-signs, laboratory or activity."""
    jp_category: str
    """``JP_SimpleObservationCategory_CS`` code (JP Core's first category slice)."""
    profiles: tuple[str, ...]
    panel: Coding | None = None
    """A panel code: the measures become ``component`` entries (blood pressure)."""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(measure.field for measure in self.measures)

    @property
    def required_field(self) -> str:
        """The Observation is exported when this field has a value (the first measure)."""
        return self.measures[0].field


def _loinc(code: str, display: str) -> Coding:
    return Coding(LOINC, code, display)


KG = Unit("kg", "kg")
MM_HG = Unit("mm[Hg]", "mmHg")
PER_MIN = Unit("/min", "/min")
STEPS = Unit("{steps}", "steps")
STEPS_PER_DAY = Unit("/d", "steps/day")
KCAL = Unit("kcal", "kcal")
KCAL_PER_DAY = Unit("kcal/d", "kcal/day")
PERCENT = Unit("%", "%")
KM = Unit("km", "km")
MINUTES = Unit("min", "min")
MET_HOURS = Unit("{MET.h}", "MET·h")

BP_PANEL = _loinc("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = Measure("systolic_bp", _loinc("8480-6", "Systolic blood pressure"), MM_HG)
DIASTOLIC = Measure("diastolic_bp", _loinc("8462-4", "Diastolic blood pressure"), MM_HG)
BP_PROFILES = (JP_OBSERVATION_VITAL_SIGNS, VITAL_SIGNS_BP)
ACTIVITY_PROFILES = (JP_OBSERVATION_COMMON,)


def _activity(item_field: str, ja: str, en: str, measure: Measure) -> ObservationMap:
    return ObservationMap(
        "activity", f"activity.{item_field}", ja, en, (measure,), "activity", "activity", ACTIVITY_PROFILES
    )


OBSERVATIONS: tuple[ObservationMap, ...] = (
    ObservationMap(
        "weight",
        "weight.body_weight",
        "体重",
        "Body weight",
        (Measure("body_weight", _loinc("29463-7", "Body weight"), KG),),
        "vital-signs",
        "body-measurement",
        (JP_OBSERVATION_BODY_MEASUREMENT, VITAL_SIGNS_BODY_WEIGHT),
    ),
    ObservationMap(
        "blood_pressure",
        "blood_pressure",
        "家庭血圧",
        "Home blood pressure",
        (SYSTOLIC, DIASTOLIC),
        "vital-signs",
        "vital-signs",
        BP_PROFILES,
        panel=BP_PANEL,
    ),
    ObservationMap(
        "blood_pressure",
        "blood_pressure.pulse_rate",
        "脈拍数",
        "Pulse rate",
        (Measure("pulse_rate", _loinc("8867-4", "Heart rate"), PER_MIN),),
        "vital-signs",
        "vital-signs",
        (JP_OBSERVATION_VITAL_SIGNS, VITAL_SIGNS_HEART_RATE),
    ),
    _activity(
        "step",
        "歩数",
        "Steps",
        Measure(
            "step",
            _loinc("55423-8", "Number of steps in unspecified time Pedometer"),
            STEPS,
            daily=(_loinc("41950-7", "Number of steps in 24 hour Measured"), STEPS_PER_DAY),
        ),
    ),
    _activity("walk_time", "歩行時間", "Walking time", Measure("walk_time", None, MINUTES)),
    _activity(
        "moderate_intensity_activity",
        "中強度時間",
        "Moderate-intensity time",
        Measure("moderate_intensity_activity", None, MINUTES),
    ),
    _activity(
        "calories", "消費カロリー", "Energy expended", Measure("calories", _loinc("41981-2", "Calories burned"), KCAL)
    ),
    _activity(
        "total_calories",
        "総消費カロリー",
        "Total energy expended",
        Measure(
            "total_calories",
            None,
            KCAL,
            daily=(_loinc("41979-6", "Calories burned in 24 hour Calculated"), KCAL_PER_DAY),
        ),
    ),
    _activity(
        "distance",
        "距離",
        "Distance",
        Measure("distance", _loinc("55430-3", "Walking distance unspecified time Pedometer"), KM),
    ),
    _activity("exercise", "エクササイズ", "Exercise (MET-hours)", Measure("exercise", None, MET_HOURS)),
    _activity("physical_activity", "運動量", "Activity energy", Measure("physical_activity", None, KCAL)),
    ObservationMap(
        "hba1c",
        "hba1c.hba1c",
        "HbA1c（NGSP）",
        "HbA1c (NGSP)",
        (Measure("hba1c", _loinc("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"), PERCENT),),
        "laboratory",
        "laboratory",
        (JP_OBSERVATION_LAB_RESULT,),
    ),
    ObservationMap(
        "clinic_blood_pressure",
        "clinic_blood_pressure",
        "健診血圧／診察室血圧",
        "Checkup / clinic blood pressure",
        (SYSTOLIC, DIASTOLIC),
        "vital-signs",
        "vital-signs",
        BP_PROFILES,
        panel=BP_PANEL,
    ),
)
"""Export order within a record: the panel (or main value) first."""

BY_ITEM: dict[str, ObservationMap] = {entry.item: entry for entry in OBSERVATIONS}
RECORD_TYPES: tuple[str, ...] = tuple(dict.fromkeys(entry.record_type for entry in OBSERVATIONS))
"""Record types exported as Observations, in the specification's order."""
DEVICE_RECORD_TYPES: tuple[str, ...] = tuple(
    name for name in RECORD_TYPES if "production_specification_serial" in spec.record_type(name).names
)

HBA1C_SPECIMEN = Coding(SNOMED, "119297000", "Blood specimen")
"""JP_Observation_LabResult requires a specimen: HbA1c (4548-4) is measured in blood."""

# --- where every record field lives in FHIR --------------------------------------------------------

EXTENSION_FIELDS: tuple[str, ...] = (
    "data_input_code",
    "origin_of_time_code",
    "measurement_position_code",
    "bp_context_code",
)
"""Code fields FHIR has no element for: ``extension`` with ``valueCoding`` in ``code_system(field)``."""

CARRIERS: dict[str, str] = {
    "consortium_id": "subject.identifier.system (urn:datahealth:consortium:<ID>:participant)",
    "participant_id": "subject.identifier.value",
    "observation_time": "effectiveDateTime (+09:00); activity: effectivePeriod.start",
    "total_active_duration": "effectivePeriod.end − effectivePeriod.start (minutes)",
    "model_manufacturer_code": "device.identifier.value (1st part); Device.manufacturer",
    "model_number": "device.identifier.value (2nd part); Device.modelNumber",
    "production_specification_serial": "device.identifier.value (3rd part); Device.serialNumber",
    "update_time": "meta.lastUpdated (+09:00, milliseconds)",
    "lab_id": "performer.identifier (urn:datahealth:consortium:<ID>:lab)",
    "hba1c_method_code": f"method.coding ({METHOD_SYSTEM})",
    **{name: f"extension[{extension_url(name)}].valueCoding" for name in EXTENSION_FIELDS},
    **{
        measure.field: "component.valueQuantity" if entry.panel else "valueQuantity"
        for entry in OBSERVATIONS
        for measure in entry.measures
    },
}
"""Every field of every exported record type → its FHIR element (documentation and a completeness test)."""


def observations_of(record_type: str) -> tuple[ObservationMap, ...]:
    return tuple(entry for entry in OBSERVATIONS if entry.record_type == record_type)


def by_loinc(code: str) -> list[ObservationMap]:
    """Observation kinds whose code (or panel code) is this LOINC code, for Observations without a hub item code."""
    found: list[ObservationMap] = []
    for entry in OBSERVATIONS:
        codes = {entry.panel.code} if entry.panel else set()
        if not entry.panel:
            measure = entry.measures[0]
            codes |= {measure.loinc.code} if measure.loinc else set()
            codes |= {measure.daily[0].code} if measure.daily else set()
        if code in codes:
            found.append(entry)
    return found


SEX_TO_GENDER: dict[str, str] = {"0": "unknown", "1": "male", "2": "female", "9": "other"}
"""JIS X 0303 sex code → FHIR administrative gender (9 適用不能 has no better home than ``other``)."""


# --- the table as documentation (docs/fhir-mapping.md embeds it; a test keeps them equal) -----------

PROFILE_NAMES = {
    JP_OBSERVATION_COMMON: "JP_Observation_Common",
    JP_OBSERVATION_VITAL_SIGNS: "JP_Observation_VitalSigns",
    JP_OBSERVATION_BODY_MEASUREMENT: "JP_Observation_BodyMeasurement",
    JP_OBSERVATION_LAB_RESULT: "JP_Observation_LabResult",
    VITAL_SIGNS_BODY_WEIGHT: "FHIR bodyweight",
    VITAL_SIGNS_BP: "FHIR bp",
    VITAL_SIGNS_HEART_RATE: "FHIR heartrate",
}


def _code_cell(measure: Measure) -> str:
    plain = f"{measure.loinc.code} {measure.loinc.display}" if measure.loinc else "—"
    if measure.daily:
        daily, unit = measure.daily
        return f"{plain}; 1 日集計 / daily: {daily.code} {daily.display}"
    return plain


def _unit_cell(measure: Measure) -> str:
    return f"`{measure.unit.code}`" + (f"; daily `{measure.daily[1].code}`" if measure.daily else "")


def mapping_markdown() -> str:
    """The Observation table of docs/fhir-mapping.md, generated from ``OBSERVATIONS``."""
    lines = [
        "| 記録 / record | 項目コード / item code | 項目 / field | LOINC | UCUM "
        "| category (FHIR / JP Core) | profiles |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in OBSERVATIONS:
        profiles = ", ".join(PROFILE_NAMES[url] for url in entry.profiles)
        category = f"{entry.category} / {entry.jp_category}"
        if entry.panel:
            lines.append(
                f"| `{entry.record_type}` | `{entry.item}` | {entry.ja} / {entry.en} | "
                f"{entry.panel.code} {entry.panel.display} | | {category} | {profiles} |"
            )
            for measure in entry.measures:
                lines.append(
                    f"| | ↳ component | `{measure.field}` | {_code_cell(measure)} | {_unit_cell(measure)} | | |"
                )
            continue
        measure = entry.measures[0]
        lines.append(
            f"| `{entry.record_type}` | `{entry.item}` | `{measure.field}` {entry.ja} / {entry.en} | "
            f"{_code_cell(measure)} | {_unit_cell(measure)} | {category} | {profiles} |"
        )
    return "\n".join(lines) + "\n"


def carriers_markdown() -> str:
    """Where every non-value field of a record lives in FHIR (docs/fhir-mapping.md)."""
    values = {measure.field for entry in OBSERVATIONS for measure in entry.measures}
    lines = ["| 項目 / field | FHIR |", "|---|---|"]
    lines += [f"| `{name}` | `{where}` |" for name, where in CARRIERS.items() if name not in values]
    return "\n".join(lines) + "\n"
