"""The feedback report of one hospital, as data: scores, items, position among peers, actions, changes.

Peers are seen only through aggregates that have passed small-cell suppression: for each item, a table
of met / not met by bed band and by prefecture (with their national totals) is suppressed once for the
whole survey, and every hospital's report reads its band's and prefecture's rates from those same
tables, so no combination of reports reveals a hidden cell. Score statistics (medians, positions) are
given only for groups of at least 10 hospitals. Other hospitals' answers never enter a report.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime

from datahealth.analytics.aggregates import (
    ScoreStats,
    TableView,
    groups,
    item_table,
    score_stats,
    stats_by,
    view_table,
)
from datahealth.analytics.dataset import HospitalRecord, SurveyData
from datahealth.analytics.history import HospitalHistory, hospital_history
from datahealth.analytics.mapping import Domain, GuidelineRef, Item
from datahealth.analytics.scoring import DomainScore, ItemResult
from datahealth.analytics.suppression import THRESHOLD
from datahealth.institutions import bed_band, founder_type_label, prefecture_name
from datahealth.survey.answers import relevant_names
from datahealth.survey.model import QuestionType, Text

NOT_SHOWN = Text(ja="（対象外）", en="(not asked)")


@dataclass(frozen=True)
class PeerRate:
    label: Text
    percent: float | None
    """Share of the group meeting the item (0–100); ``None`` when hidden (small cells)."""
    key: str = ""
    """The group's key (a bed band key for ``band_rates``)."""


@dataclass(frozen=True)
class AnswerLine:
    code: str
    label: Text
    answer: Text


@dataclass(frozen=True)
class Citation:
    ref: GuidelineRef
    text: Text | None
    """The passage as the survey's 回答要領 quotes it, when it does."""


@dataclass(frozen=True)
class ItemFeedback:
    item: Item
    result: ItemResult
    answers: list[AnswerLine]
    citations: list[Citation]
    peers: list[PeerRate]
    """All hospitals, the hospital's bed band, its prefecture."""
    band_rates: list[PeerRate]
    """Every bed band (for the bar chart)."""


@dataclass(frozen=True)
class DomainFeedback:
    domain: Domain
    score: DomainScore
    band_mean: float | None
    national_mean: float | None
    items: list[ItemFeedback]


@dataclass(frozen=True)
class Position:
    label: Text
    stats: ScoreStats
    share_below: float | None
    """Share (0–1) of the group scoring below this hospital, ties half; None for groups under 10."""


@dataclass(frozen=True)
class FeedbackReport:
    hospital: HospitalRecord
    survey_title: Text
    band_label: Text
    prefecture_label: Text
    founder_label: Text
    respondents: int
    as_of: datetime
    met: int
    applicable: int
    positions: list[Position]
    domains: list[DomainFeedback]
    actions: list[ItemFeedback]
    history: HospitalHistory | None
    prefecture_medians: list[float | None]
    """Median overall score (0–100) of each prefecture's hospitals (JIS order), None under 10."""
    checklist_note: Text | None
    documents: tuple[Text, Text]
    references: list[tuple[Domain, list[tuple[Item, list[Citation]]]]]
    """Every item with its criterion and references (the same for every hospital: the PDF's appendix)."""

    @property
    def overall(self) -> float | None:
        return 100.0 * self.met / self.applicable if self.applicable else None


class PeerContext:
    """What every hospital's report of one survey shares: suppressed tables and score statistics."""

    def __init__(self, data: SurveyData, previous: SurveyData | None, as_of: datetime) -> None:
        self.data = data
        self.previous = previous
        self.as_of = as_of
        submitted = data.submitted()
        self.respondents = len(submitted)
        scoring = data.scoring
        self.by_band = {
            i.key: view_table(item_table(submitted, scoring, i.key, "band"), "public") for i in scoring.items
        }
        self.by_prefecture = {
            i.key: view_table(item_table(submitted, scoring, i.key, "prefecture"), "public") for i in scoring.items
        }
        self.national = score_stats(submitted, scoring)
        self.band_stats = stats_by(submitted, scoring, "band")
        self.prefecture_stats = stats_by(submitted, scoring, "prefecture")
        self.references = [
            (domain, [(item, citations(data, item)) for item in scoring.items_of(domain.key)])
            for domain in scoring.domains
        ]
        self._sorted: dict[tuple[str, str], list[float]] = {}
        for record in submitted:
            if record.score is None or record.score.overall is None:
                continue
            for key in (("all", "all"), ("band", record.band or ""), ("prefecture", str(record.prefecture_code))):
                self._sorted.setdefault(key, []).append(record.score.overall)
        for values in self._sorted.values():
            values.sort()

    def share_below(self, kind: str, key: str, score: float) -> float | None:
        values = self._sorted.get((kind, key), [])
        if len(values) < THRESHOLD:
            return None
        below, upto = bisect_left(values, score), bisect_right(values, score)
        return (below + 0.5 * (upto - below)) / len(values)


def _rate(view: TableView, row_key: str | None) -> float | None:
    row = view.totals if row_key is None else next((r for r in view.rows if r.key == row_key), None)
    return None if row is None else row.cells[0].percent


def _answer_text(record: HospitalRecord, data: SurveyData, name: str, shown: set[str]) -> Text:
    question = data.defn.question(name)
    value = (record.answers or {}).get(name)
    if name not in shown or value is None:
        return NOT_SHOWN
    if question.type in (QuestionType.YES_NO, QuestionType.SELECT_ONE):
        choice = next((c for c in data.defn.choices_for(question) if c.name == value), None)
        return choice.label if choice else Text(ja=str(value))
    if isinstance(value, list):
        return Text(ja="、".join(value))
    return Text(ja=value)


def citations(data: SurveyData, item: Item) -> list[Citation]:
    """The item's guideline sections with the passage the survey's 回答要領 quotes for each, if any."""
    found = []
    for ref in item.guideline:
        quoted = None
        for name in item.questions:
            guidance = data.defn.question(name).guidance
            for reference in guidance.references if guidance else []:
                if reference.section == ref.section and reference.text is not None:
                    quoted = reference.text
        found.append(Citation(ref, quoted))
    return found


def feedback_report(ctx: PeerContext, organisation_id: int) -> FeedbackReport | None:
    """The report of one hospital, or None when it has not submitted."""
    data = ctx.data
    record = data.record_of(organisation_id)
    if record is None or record.score is None:
        return None
    score = record.score
    shown = relevant_names(data.defn, record.answers or {})
    band, prefecture = record.band, str(record.prefecture_code) if record.prefecture_code else None
    band_label = next((label for key, label in groups("band") if key == band), Text(ja="—"))
    pref_label = Text(
        ja=prefecture_name(record.prefecture_code, "ja"), en=prefecture_name(record.prefecture_code, "en")
    )
    items: dict[str, ItemFeedback] = {}
    for item in data.scoring.items:
        by_band, by_pref = ctx.by_band[item.key], ctx.by_prefecture[item.key]
        peers = [
            PeerRate(Text(ja="全国", en="All hospitals"), _rate(by_band, None)),
            PeerRate(band_label, _rate(by_band, band) if band else None),
            PeerRate(pref_label, _rate(by_pref, prefecture) if prefecture else None),
        ]
        band_rates = [PeerRate(label, _rate(by_band, key), key) for key, label in groups("band")]
        answers = [
            AnswerLine(
                data.defn.question(n).display_code, data.defn.question(n).label, _answer_text(record, data, n, shown)
            )
            for n in item.questions
        ]
        items[item.key] = ItemFeedback(item, score.items[item.key], answers, citations(data, item), peers, band_rates)
    band_stats = ctx.band_stats.get(band or "")
    domains = [
        DomainFeedback(
            domain,
            score.domains[domain.key],
            _as_percent(band_stats.domain_means.get(domain.key) if band_stats else None),
            _as_percent(ctx.national.domain_means.get(domain.key)),
            [items[i.key] for i in data.scoring.items_of(domain.key)],
        )
        for domain in data.scoring.domains
    ]
    actions = [items[i.key] for i in data.scorer.prioritised() if items[i.key].result.status == "not_met"]
    overall = score.overall if score.overall is not None else 0.0
    positions = [
        Position(Text(ja="全国", en="All hospitals"), ctx.national, ctx.share_below("all", "all", overall)),
        Position(band_label, band_stats or ctx.national, ctx.share_below("band", band or "", overall)),
        Position(
            pref_label,
            ctx.prefecture_stats.get(prefecture or "", ctx.national),
            ctx.share_below("prefecture", prefecture or "", overall),
        ),
    ]
    medians = [_as_percent(ctx.prefecture_stats[str(code)].median) for code in range(1, 48)]
    return FeedbackReport(
        hospital=record,
        survey_title=data.defn.title,
        band_label=band_label if bed_band(record.bed_count) else Text(ja="—"),
        prefecture_label=pref_label,
        founder_label=Text(
            ja=founder_type_label(record.founder_type, "ja"), en=founder_type_label(record.founder_type, "en")
        ),
        respondents=ctx.respondents,
        as_of=ctx.as_of,
        met=score.met,
        applicable=score.applicable,
        positions=positions,
        domains=domains,
        actions=actions,
        history=hospital_history(ctx.previous, record, data.scoring),
        prefecture_medians=medians,
        checklist_note=data.scoring.checklist_note,
        documents=(data.scoring.documents.guideline, data.scoring.documents.checklist),
        references=ctx.references,
    )


def _as_percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value
