"""The scoring map of a survey: questions → checklist items, guideline sections, domains and rules, as data.

A bundled survey ``cyber_fy2024.yaml`` brings its map beside it as ``cyber_fy2024_scoring.yaml`` (so next
year's survey brings its own). Rules are XLSForm expressions (``${q13} >= 13``) evaluated by the survey
engine's own safe evaluator; nothing here is Python code. ``check_map`` proves a map fits its survey:
every expression parses and names real questions and choices, and every answerable question is either
read by an item or listed as informational with a reason.
"""

from __future__ import annotations

import pathlib
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from datahealth.errors import DefinitionError, Problem
from datahealth.survey import definitions as bundled
from datahealth.survey.expressions import ExpressionError, choice_comparisons, parse
from datahealth.survey.model import QuestionType, SurveyDefinition, Text

Status = Literal["met", "not_met"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GuidelineRef(_Model):
    """A section of the guidelines as the survey's 回答要領 cites it, and the paragraph (① …)."""

    section: str
    paragraph: str = ""


class ChecklistRef(_Model):
    """The checklist group (1, 2 or 3) and a summary of the item's topic (not the checklist's wording)."""

    group: str
    topic: Text


class Outcome(_Model):
    """One rule line: the first outcome whose ``when`` holds decides; no ``when`` means otherwise."""

    when: str | None = None
    status: Status
    explain: Text | None = None


class Domain(_Model):
    key: str
    label: Text
    rule: Text


class Item(_Model):
    key: str
    domain: str
    questions: list[str]
    label: Text
    applies: str | None = None
    """When the item applies at all (e.g. backups only where an EMR is used); always when empty."""
    meets: str | None = None
    """Shorthand for ``outcomes``: met when it holds, not met otherwise."""
    outcomes: list[Outcome] = Field(default_factory=list)
    criterion: Text
    guideline: list[GuidelineRef] = Field(default_factory=list)
    guideline_note: Text | None = None
    """Said instead of a section where the 回答要領 cites none."""
    checklist: ChecklistRef | None = None
    checklist_note: Text | None = None
    priority: int = 100
    """Order of the action list (1 first)."""
    critical: bool = False
    """Ransomware-critical: listed first and counted for the follow-up list."""
    action: Text

    @model_validator(mode="after")
    def _one_rule(self) -> Item:
        if (self.meets is None) == (not self.outcomes):
            raise ValueError(f"item {self.key}: give exactly one of `meets` and `outcomes`")
        if not self.guideline and self.guideline_note is None:
            raise ValueError(f"item {self.key}: give guideline sections or a guideline_note saying there are none")
        return self

    def rule(self) -> list[Outcome]:
        if self.meets is not None:
            return [Outcome(when=self.meets, status="met"), Outcome(status="not_met")]
        return list(self.outcomes)


class Informational(_Model):
    question: str
    reason: Text


class Category(_Model):
    key: str
    label: Text
    when: str


class Indicator(_Model):
    """A derived category per hospital (first category whose ``when`` holds), for cross-tables."""

    key: str
    label: Text
    categories: list[Category]


class CrossTable(_Model):
    rows: str
    columns: str


class Bin(_Model):
    key: str
    label: Text
    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class NumberDistribution(_Model):
    question: str
    label: Text
    bins: list[Bin]


class RiskTier(_Model):
    key: str
    label: Text
    when: str


class Risk(_Model):
    description: Text
    tiers: list[RiskTier]


class Documents(_Model):
    guideline: Text
    checklist: Text


class ScoringMap(_Model):
    format: Literal["datahealth-scoring/1"] = "datahealth-scoring/1"
    survey: str
    previous_survey: str | None = None
    respondent_question: str | None = None
    """The question holding the respondent's name: the contact in the ministry's follow-up list."""
    documents: Documents
    checklist_note: Text | None = None
    domains: list[Domain]
    items: list[Item]
    informational: list[Informational] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)
    cross_tables: list[CrossTable] = Field(default_factory=list)
    number_distributions: list[NumberDistribution] = Field(default_factory=list)
    risk: Risk | None = None

    def domain(self, key: str) -> Domain:
        return next(domain for domain in self.domains if domain.key == key)

    def item(self, key: str) -> Item:
        return next(item for item in self.items if item.key == key)

    def indicator(self, key: str) -> Indicator:
        return next(indicator for indicator in self.indicators if indicator.key == key)

    def items_of(self, domain: str) -> list[Item]:
        return [item for item in self.items if item.domain == domain]

    def expressions(self) -> list[tuple[str, str, str]]:
        """(owner, field, source) of every expression in the map."""
        found: list[tuple[str, str, str]] = []
        for item in self.items:
            if item.applies:
                found.append((item.key, "applies", item.applies))
            found.extend((item.key, "outcomes", o.when) for o in item.rule() if o.when)
        for indicator in self.indicators:
            found.extend((f"{indicator.key}.{c.key}", "when", c.when) for c in indicator.categories)
        if self.risk is not None:
            found.extend((tier.key, "when", tier.when) for tier in self.risk.tiers)
        return found


# --- loading ---------------------------------------------------------------------------------------


def scoring_filename(survey_key: str) -> str | None:
    """``cyber_fy2024_scoring.yaml`` for the bundled ``cyber-fy2024`` (None when the survey has no map)."""
    filename = bundled.BUNDLED.get(survey_key)
    if filename is None:
        return None
    name = pathlib.PurePath(filename).stem + "_scoring.yaml"
    return name if resources.files(bundled.__name__).joinpath(name).is_file() else None


@lru_cache(maxsize=16)
def load_scoring(survey_key: str) -> ScoringMap | None:
    """The bundled scoring map of a survey, or ``None`` when it has none. Raises DefinitionError (DH-R101)."""
    filename = scoring_filename(survey_key)
    if filename is None:
        return None
    text = resources.files(bundled.__name__).joinpath(filename).read_text(encoding="utf-8")
    return parse_scoring(text, filename)


def parse_scoring(text: str, source: str = "scoring") -> ScoringMap:
    try:
        return ScoringMap.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise DefinitionError(Problem("DH-R101", {"source": source, "detail": str(exc)[:500]})) from exc


# --- checking --------------------------------------------------------------------------------------


def check_map(defn: SurveyDefinition, scoring: ScoringMap) -> list[Problem]:
    """Every problem that keeps ``scoring`` from scoring ``defn``, each naming the item and field."""
    problems: list[Problem] = []
    names = {q.name for q in defn.questions()}
    if scoring.survey != defn.id:
        problems.append(Problem("DH-R105", {"detail": f"map is for {scoring.survey}, survey is {defn.id}"}))
    _check_keys(scoring, problems)
    for owner, column, source in scoring.expressions():
        _check_expression(defn, names, owner, column, source, problems)
    read: set[str] = set()
    for item in scoring.items:
        for name in item.questions:
            if name not in names:
                problems.append(Problem("DH-R103", {"reference": name}, question=item.key, field="questions"))
            read.add(name)
    for info in scoring.informational:
        if info.question not in names:
            problems.append(Problem("DH-R103", {"reference": info.question}, question="informational"))
        read.add(info.question)
    for distribution in scoring.number_distributions:
        if distribution.question not in names:
            problems.append(Problem("DH-R103", {"reference": distribution.question}, question="number_distributions"))
    for question in defn.questions():
        if question.answerable and question.name not in read:
            problems.append(Problem("DH-R106", {"reference": question.display_code}, question=question.name))
    return problems


def ensure_valid_map(defn: SurveyDefinition, scoring: ScoringMap) -> None:
    problems = check_map(defn, scoring)
    if problems:
        raise DefinitionError(*problems)


def _check_keys(scoring: ScoringMap, problems: list[Problem]) -> None:
    domains = [d.key for d in scoring.domains]
    for kind, keys in (
        ("domain", domains),
        ("item", [i.key for i in scoring.items]),
        ("indicator", [i.key for i in scoring.indicators]),
    ):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            problems.append(Problem("DH-R105", {"detail": f"{kind} key repeated: {', '.join(repeated)}"}))
    for item in scoring.items:
        if item.domain not in domains:
            problems.append(Problem("DH-R105", {"detail": f"unknown domain {item.domain}"}, question=item.key))
    indicators = {i.key for i in scoring.indicators}
    for table in scoring.cross_tables:
        for side in (table.rows, table.columns):
            if side not in indicators:
                problems.append(Problem("DH-R105", {"detail": f"cross-table uses unknown indicator {side}"}))


def _check_expression(
    defn: SurveyDefinition, names: set[str], owner: str, column: str, source: str, problems: list[Problem]
) -> None:
    try:
        expr = parse(source)
    except ExpressionError as exc:
        problems.append(Problem("DH-R102", {"expression": source, "detail": str(exc)}, question=owner, field=column))
        return
    if expr.uses_current:
        detail = "'.' has no meaning in a scoring rule"
        problems.append(Problem("DH-R102", {"expression": source, "detail": detail}, question=owner, field=column))
    for name in sorted(expr.references - names):
        problems.append(Problem("DH-R103", {"reference": name}, question=owner, field=column))
    for name, literal, is_equality in choice_comparisons(expr):
        if name not in names:
            continue
        question = defn.question(name)
        single = question.type in (QuestionType.YES_NO, QuestionType.SELECT_ONE)
        if not single and not (question.type == QuestionType.SELECT_MULTIPLE and not is_equality):
            continue
        if literal not in {choice.name for choice in defn.choices_for(question)}:
            problems.append(
                Problem("DH-R104", {"reference": name, "value": literal, "expression": source}, question=owner)
            )
