"""A study as data: arms, allocation, strata, start date, baseline and follow-up windows (YAML, pydantic).

Example (``datahealth study register study.yaml``)::

    code: SHICHIFUKU
    title_ja: 行動変容促進事業（HbA1c）
    title_en: Behaviour change programme (HbA1c)
    consortia: [SYN01]
    start_date: 2025-04-01
    arms:
      - {code: intervention, label_ja: 介入あり, label_en: Intervention}
      - {code: control, label_ja: 介入なし, label_en: No intervention}
    reference_arm: control
    allocation: {method: generated, seed: 1}
    strata:
      field: medication_code
      groups:
        - {code: no_medication, label_ja: 投薬治療なし, label_en: No medication, codes: ["0"]}
        - {code: medication, label_ja: 投薬治療あり, label_en: Medication, codes: ["1", "2", "3"]}
    baseline: {days_before: 90, days_after: 0}
    follow_ups:
      - {code: m3, label_ja: 3ヶ月後, label_en: 3 months, target_days: 90, window_days: 30}

Baseline is the *last* HbA1c in ``[start − days_before, start + days_after]``; a follow-up is the HbA1c
*closest* to ``start + target_days`` within ``± window_days`` (ties: the earlier one). Windows of one
study must not overlap, so one measurement is never used twice.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from datahealth.errors import DefinitionError, Problem

CODE_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
STRATIFIABLE = ("medication_code", "sex_code", "commute_code", "wearing_position_code")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    label_ja: str
    label_en: str


class Allocation(_Strict):
    method: Literal["generated", "file"] = "generated"
    """``generated``: stratified permuted blocks from ``seed``; ``file``: a CSV (consortium_id, participant_id, arm)."""
    seed: int = 1
    block_size: int = Field(default=4, ge=2, le=20)


class Stratum(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    label_ja: str
    label_en: str
    codes: tuple[str, ...] = Field(min_length=1)


class Strata(_Strict):
    field: Literal["medication_code", "sex_code", "commute_code", "wearing_position_code"] = "medication_code"
    groups: tuple[Stratum, ...] = Field(min_length=1)


class Baseline(_Strict):
    days_before: int = Field(default=90, ge=0, le=730)
    days_after: int = Field(default=0, ge=0, le=60)


class FollowUp(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    label_ja: str
    label_en: str
    target_days: int = Field(ge=1, le=3650)
    window_days: int = Field(ge=0, le=365)


class StudyDefinition(_Strict):
    code: str = Field(pattern=CODE_PATTERN)
    title_ja: str
    title_en: str
    consortia: tuple[str, ...] = Field(min_length=1)
    start_date: date
    outcome: Literal["hba1c"] = "hba1c"
    arms: tuple[Arm, ...] = Field(min_length=2)
    reference_arm: str
    allocation: Allocation = Allocation()
    strata: Strata
    baseline: Baseline = Baseline()
    follow_ups: tuple[FollowUp, ...] = Field(min_length=1)
    primary_follow_up: str | None = None
    """The follow-up of the headline table (default: the last one)."""

    @model_validator(mode="after")
    def _consistent(self) -> StudyDefinition:
        arms = [arm.code for arm in self.arms]
        if len(set(arms)) != len(arms):
            raise ValueError("arm codes must be unique")
        if self.reference_arm not in arms:
            raise ValueError(f"reference_arm {self.reference_arm!r} is not an arm")
        strata = [group.code for group in self.strata.groups]
        if len(set(strata)) != len(strata):
            raise ValueError("stratum codes must be unique")
        codes = [code for group in self.strata.groups for code in group.codes]
        if len(set(codes)) != len(codes):
            raise ValueError("a registry code belongs to at most one stratum")
        follow = [f.code for f in self.follow_ups]
        if len(set(follow)) != len(follow) or "baseline" in follow:
            raise ValueError("follow-up codes must be unique and not 'baseline'")
        if self.primary_follow_up is not None and self.primary_follow_up not in follow:
            raise ValueError(f"primary_follow_up {self.primary_follow_up!r} is not a follow-up")
        windows = sorted(
            [(-self.baseline.days_before, self.baseline.days_after)]
            + [(f.target_days - f.window_days, f.target_days + f.window_days) for f in self.follow_ups]
        )
        for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
            if start <= end:
                raise ValueError("baseline and follow-up windows must not overlap")
        return self

    @property
    def primary(self) -> FollowUp:
        wanted = self.primary_follow_up or self.follow_ups[-1].code
        return next(f for f in self.follow_ups if f.code == wanted)

    @property
    def treated_arms(self) -> tuple[Arm, ...]:
        return tuple(arm for arm in self.arms if arm.code != self.reference_arm)

    def arm(self, code: str) -> Arm:
        return next(arm for arm in self.arms if arm.code == code)

    def stratum_of(self, registry_code: str | None) -> str | None:
        for group in self.strata.groups:
            if registry_code in group.codes:
                return group.code
        return None


def parse_definition(data: Any, source: str = "study") -> StudyDefinition:
    """A validated definition, or DH-T101 naming each wrong field."""
    try:
        return StudyDefinition.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(
                "DH-T101",
                {"source": source, "detail": item["msg"]},
                field=".".join(str(part) for part in item["loc"]) or "-",
            )
            for item in error.errors()
        ]
        raise DefinitionError(*problems) from None


def load_definition(text: str, source: str = "study.yaml") -> StudyDefinition:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(Problem("DH-T101", {"source": source, "detail": str(error)[:200]}, field="-")) from None
    return parse_definition(data, source)


def dump_definition(definition: StudyDefinition) -> str:
    return yaml.safe_dump(definition.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
