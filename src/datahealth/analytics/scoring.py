"""Score one hospital's answers against a scoring map: item by item, then per domain and overall.

An item is *not applicable* when its ``applies`` expression fails (backups without an EMR), *unanswered*
when one of its questions is shown to the hospital but has no answer (never for a valid submission),
otherwise the first outcome whose ``when`` holds decides *met* or *not met*. A domain's score is the
share of its applicable items that are met; the overall score is the share of all applicable items met.
Expressions are parsed once per map (``Scorer``) and evaluated with the survey engine's evaluator, with
answers to questions that are not relevant counting as unanswered, exactly as in the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from datahealth.analytics.mapping import Item, ScoringMap
from datahealth.survey.answers import relevant_names
from datahealth.survey.expressions import Expression, evaluate_bool, parse, to_number
from datahealth.survey.model import AnswerValue, SurveyDefinition, Text

ItemStatus = Literal["met", "not_met", "not_applicable", "unanswered"]


@dataclass(frozen=True)
class ItemResult:
    key: str
    status: ItemStatus
    explain: Text | None = None


@dataclass(frozen=True)
class DomainScore:
    key: str
    met: int
    applicable: int

    @property
    def score(self) -> float | None:
        """Share of applicable items met (0–1); ``None`` when no item applies."""
        return self.met / self.applicable if self.applicable else None


@dataclass(frozen=True)
class HospitalScore:
    items: dict[str, ItemResult]
    domains: dict[str, DomainScore]
    indicators: dict[str, str | None]
    risk_tier: str | None
    critical_gaps: tuple[str, ...]
    """Keys of ransomware-critical items not met, in priority order."""
    numbers: dict[str, float | None] = field(default_factory=dict)
    """The answers of ``number_distributions`` questions as numbers (None if unanswered)."""

    @cached_property
    def met(self) -> int:
        return sum(1 for result in self.items.values() if result.status == "met")

    @cached_property
    def applicable(self) -> int:
        return sum(1 for result in self.items.values() if result.status in ("met", "not_met"))

    @cached_property
    def overall(self) -> float | None:
        """Share of applicable items met (0–1)."""
        return self.met / self.applicable if self.applicable else None


@dataclass(frozen=True)
class _CompiledItem:
    item: Item
    applies: Expression | None
    outcomes: tuple[tuple[Expression | None, str, Text | None], ...]


class Scorer:
    """A scoring map with its expressions parsed, ready to score many hospitals."""

    def __init__(self, defn: SurveyDefinition, scoring: ScoringMap) -> None:
        self.defn = defn
        self.scoring = scoring
        self._items = [
            _CompiledItem(
                item,
                parse(item.applies) if item.applies else None,
                tuple((parse(o.when) if o.when else None, o.status, o.explain) for o in item.rule()),
            )
            for item in scoring.items
        ]
        self._indicators = [
            (indicator.key, [(category.key, parse(category.when)) for category in indicator.categories])
            for indicator in scoring.indicators
        ]
        self._tiers = [(tier.key, parse(tier.when)) for tier in (scoring.risk.tiers if scoring.risk else [])]
        self._priority = sorted(scoring.items, key=lambda item: (item.priority, item.key))

    def score(self, answers: Mapping[str, AnswerValue]) -> HospitalScore:
        shown = relevant_names(self.defn, answers)
        visible = {name: value for name, value in answers.items() if name in shown}
        items: dict[str, ItemResult] = {}
        for compiled in self._items:
            items[compiled.item.key] = self._item(compiled, visible, shown)
        domains = {
            domain.key: DomainScore(
                domain.key,
                sum(1 for item in self.scoring.items_of(domain.key) if items[item.key].status == "met"),
                sum(1 for item in self.scoring.items_of(domain.key) if items[item.key].status in ("met", "not_met")),
            )
            for domain in self.scoring.domains
        }
        indicators = {key: _first(categories, visible) for key, categories in self._indicators}
        tier = _first(self._tiers, visible)
        gaps = tuple(item.key for item in self._priority if item.critical and items[item.key].status == "not_met")
        numbers = {
            distribution.question: _number(visible.get(distribution.question))
            for distribution in self.scoring.number_distributions
        }
        return HospitalScore(items, domains, indicators, tier, gaps, numbers)

    def _item(self, compiled: _CompiledItem, visible: Mapping[str, AnswerValue], shown: set[str]) -> ItemResult:
        key = compiled.item.key
        if compiled.applies is not None and not evaluate_bool(compiled.applies, visible):
            return ItemResult(key, "not_applicable")
        if any(name in shown and name not in visible for name in compiled.item.questions):
            return ItemResult(key, "unanswered")
        for when, status, explain in compiled.outcomes:
            if when is None or evaluate_bool(when, visible):
                return ItemResult(key, "met" if status == "met" else "not_met", explain)
        return ItemResult(key, "not_met")

    def prioritised(self) -> list[Item]:
        """Items in action-list order: critical first, then by priority."""
        return sorted(self.scoring.items, key=lambda item: (not item.critical, item.priority, item.key))


def _first(candidates: list[tuple[str, Expression]], values: Mapping[str, AnswerValue]) -> str | None:
    for key, expression in candidates:
        if evaluate_bool(expression, values):
            return key
    return None


def _number(value: AnswerValue | None) -> float | None:
    if value is None or isinstance(value, list):
        return None
    number = to_number(value)
    return None if number != number else number  # NaN: not a number
