"""Cohort definitions as data (YAML): index event, windows, required enrolment, services/conditions.

Example (``cohorts/stroke.yaml`` ships with the package)::

    name: stroke
    title: 脳梗塞で急性期病院に入院した患者の入院前後6ヶ月のサービス利用
    index:                       # the first such event of a person is the index (month 0)
      source: medical
      where: {setting: inpatient, ward: general}
      icd10: [I63]
    washout_months: 12           # enrolled and free of the index event this long before it
    before: 6                    # months shown before the index …
    after: 6                     # … and after it; enrolment is required throughout
    services:
      - {key: general_ward, label: 一般病棟入院, source: medical, where: {setting: inpatient, ward: general}}
      - {key: pneumonia, label: 肺炎, source: medical, icd10: [J12, J13, J14, J15, J16, J17, J18]}
      - {key: care_insurance, label: 介護保険, source: care}

An event definition selects rows of one analysis table (``medical`` or ``care``): every ``where`` column
equals the value (or one of the listed values), and when ``icd10`` is given the diagnosis starts with one
of the listed codes (I63 covers I63.0–I63.9).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datahealth.errors import Problem, UserError

Source = Literal["medical", "care", "checkups"]
COLUMNS: dict[str, frozenset[str]] = {
    "medical": frozenset({"setting", "ward", "icd10", "procedure", "generic"}),
    "care": frozenset({"care_level", "service"}),
    "checkups": frozenset({"guidance_level", "guidance_done", "smoking"}),
}


class EventDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    where: dict[str, str | int | bool | list[str | int | bool]] = Field(default_factory=dict)
    icd10: tuple[str, ...] = ()

    @field_validator("icd10")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not code or not code[0].isalpha() or not code.isalnum():
                raise ValueError(f"not an ICD-10 code prefix: {code!r}")
        return tuple(code.upper() for code in value)


class ServiceDefinition(EventDefinition):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str


class Cohort(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    title: str = ""
    index: EventDefinition
    washout_months: int = Field(default=12, ge=0, le=120)
    before: int = Field(default=6, ge=0, le=60)
    after: int = Field(default=6, ge=0, le=60)
    services: tuple[ServiceDefinition, ...] = Field(min_length=1)

    @field_validator("services")
    @classmethod
    def _unique(cls, value: tuple[ServiceDefinition, ...]) -> tuple[ServiceDefinition, ...]:
        keys = [s.key for s in value]
        if len(set(keys)) != len(keys):
            raise ValueError("service keys must be unique")
        return value

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(range(-self.before, self.after + 1))


def _check_columns(cohort: Cohort, origin: str) -> None:
    for place, event in (("index", cohort.index), *((f"services.{s.key}", s) for s in cohort.services)):
        unknown = set(event.where) - COLUMNS[event.source]
        if unknown:
            detail = f"unknown column(s) {sorted(unknown)} for source {event.source}"
            raise UserError(Problem("DH-L103", {"row": origin, "field": place, "detail": detail}))
        if event.icd10 and event.source != "medical":
            detail = "icd10 applies to medical claims only"
            raise UserError(Problem("DH-L103", {"row": origin, "field": place, "detail": detail}))


def parse_cohort(text: str, origin: str = "<text>") -> Cohort:
    """A cohort from YAML text; bad input raises DH-L103 naming the field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(Problem("DH-L103", {"row": origin, "field": "YAML", "detail": str(exc)[:200]})) from exc
    if not isinstance(data, dict):
        raise UserError(Problem("DH-L103", {"row": origin, "field": "YAML", "detail": "not a mapping"}))
    try:
        cohort = Cohort.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise UserError(Problem("DH-L103", {"row": origin, "field": field, "detail": first["msg"]})) from exc
    _check_columns(cohort, origin)
    return cohort


def load_cohort(path: Path | str) -> Cohort:
    """A cohort file, or the name of a bundled cohort (``stroke``)."""
    candidate = Path(path)
    if candidate.exists():
        return parse_cohort(candidate.read_text(encoding="utf-8"), str(candidate))
    bundled = resources.files("datahealth.analytics.linked") / "cohorts" / f"{path}.yaml"
    if bundled.is_file():
        return parse_cohort(bundled.read_text(encoding="utf-8"), f"{path}.yaml")
    raise UserError(Problem("DH-L103", {"row": str(path), "field": "file", "detail": "no such file"}))
