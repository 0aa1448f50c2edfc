"""The national report for the ministry, as data: one model rendered as dashboard, PDF and XLSX.

Two views of the same numbers: ``internal`` (the ministry's own, every count, with the follow-up list of
hospitals at highest ransomware risk and their contacts) and ``public`` (for anything published outside
the ministry: every count table suppressed, score means only for groups of 10 or more, no list of
hospitals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from datahealth.analytics.aggregates import (
    CountTable,
    GroupBy,
    ScoreStats,
    TableView,
    View,
    answer_table,
    cross_table,
    distribution_table,
    item_table,
    multiple_choice_table,
    response_table,
    score_stats,
    stats_by,
    tabulated_questions,
    view_table,
)
from datahealth.analytics.dataset import HospitalRecord, SurveyData
from datahealth.analytics.history import Trends, trends
from datahealth.analytics.mapping import Item, RiskTier, ScoringMap
from datahealth.errors import Problem, UserError
from datahealth.survey.model import Question, QuestionType, Text

VIEWS: tuple[View, ...] = ("internal", "public")


def parse_view(value: str | None) -> View:
    if value in (None, "", "internal"):
        return "internal"
    if value == "public":
        return "public"
    raise UserError(Problem("DH-R203", {"value": value}))


@dataclass(frozen=True)
class AnswerTables:
    question: Question
    tables: dict[str, TableView]
    """``all`` (national, by band's totals), ``band``, ``founder``, ``prefecture``."""


@dataclass(frozen=True)
class ItemTables:
    item: Item
    tables: dict[str, TableView]


@dataclass(frozen=True)
class FollowUp:
    record: HospitalRecord
    tier: RiskTier
    gaps: list[Item]
    respondent: str
    """The person who answered (the map's ``respondent_question``), as a contact."""


@dataclass(frozen=True)
class TrendViews:
    previous_title: Text
    before: TableView
    after: TableView
    pairs: TableView


@dataclass(frozen=True)
class NationalReport:
    view: View
    survey_title: Text
    survey_key: str
    as_of: datetime
    targets: int
    submitted: int
    response_band: TableView
    response_prefecture: TableView
    national: ScoreStats
    band_stats: dict[str, ScoreStats]
    founder_stats: dict[str, ScoreStats]
    items: list[ItemTables]
    answers: list[AnswerTables]
    multiple: list[TableView]
    cross: list[TableView]
    distributions: list[TableView]
    trends: TrendViews | None
    tier_counts: list[tuple[RiskTier, int]]
    followup: list[FollowUp]
    """Internal view only; empty in the public view."""
    scoring: ScoringMap

    @property
    def rate(self) -> float | None:
        return 100.0 * self.submitted / self.targets if self.targets else None


def national_report(
    data: SurveyData, view: View, as_of: datetime, previous: SurveyData | None = None
) -> NationalReport:
    submitted = data.submitted()
    scoring = data.scoring

    def show(table: CountTable) -> TableView:
        return view_table(table, view)

    threshold = 10 if view == "public" else 1
    by: tuple[GroupBy, ...] = ("band", "founder", "prefecture")
    items = [
        ItemTables(item, {g: show(item_table(submitted, scoring, item.key, g)) for g in by}) for item in scoring.items
    ]
    answers = [
        AnswerTables(question, {g: show(answer_table(submitted, data.defn, question, g)) for g in by})
        for question in tabulated_questions(data.defn)
    ]
    multiple = [
        show(multiple_choice_table(submitted, data.defn, q))
        for q in data.defn.questions()
        if q.type == QuestionType.SELECT_MULTIPLE
    ]
    cross = [show(cross_table(submitted, scoring, t.rows, t.columns)) for t in scoring.cross_tables]
    distributions = [show(distribution_table(submitted, d, "band")) for d in scoring.number_distributions]
    trend_views = None
    if previous is not None:
        found: Trends = trends(previous, data)
        trend_views = TrendViews(found.previous_title, show(found.before), show(found.after), show(found.pairs))
    tiers = scoring.risk.tiers if scoring.risk else []
    tier_counts = [(tier, sum(1 for r in submitted if r.score and r.score.risk_tier == tier.key)) for tier in tiers]
    followup = _followup(data, submitted) if view == "internal" else []
    return NationalReport(
        view=view,
        survey_title=data.defn.title,
        survey_key=data.survey_key,
        as_of=as_of,
        targets=len(data.records),
        submitted=len(submitted),
        response_band=show(response_table(data.records, "band")),
        response_prefecture=show(response_table(data.records, "prefecture")),
        national=score_stats(submitted, scoring, threshold),
        band_stats=stats_by(submitted, scoring, "band", threshold),
        founder_stats=stats_by(submitted, scoring, "founder", threshold),
        items=items,
        answers=answers,
        multiple=multiple,
        cross=cross,
        distributions=distributions,
        trends=trend_views,
        tier_counts=tier_counts,
        followup=followup,
        scoring=scoring,
    )


def _followup(data: SurveyData, submitted: list[HospitalRecord]) -> list[FollowUp]:
    """Hospitals in a risk tier: by tier, then most unmet critical items, then most beds."""
    scoring = data.scoring
    if scoring.risk is None:
        return []
    order = {tier.key: i for i, tier in enumerate(scoring.risk.tiers)}
    chosen = [r for r in submitted if r.score is not None and r.score.risk_tier in order]

    def key(record: HospitalRecord) -> tuple[int, int, int, str]:
        assert record.score is not None and record.score.risk_tier is not None  # noqa: S101 - filtered above  # nosec B101
        return (order[record.score.risk_tier], -len(record.score.critical_gaps), -(record.bed_count or 0), record.code)

    result = []
    for record in sorted(chosen, key=key):
        assert record.score is not None and record.score.risk_tier is not None  # noqa: S101 - filtered above  # nosec B101
        tier = scoring.risk.tiers[order[record.score.risk_tier]]
        name = scoring.respondent_question
        respondent = (record.answers or {}).get(name, "") if name else ""
        result.append(
            FollowUp(
                record,
                tier,
                [scoring.item(k) for k in record.score.critical_gaps],
                respondent if isinstance(respondent, str) else "",
            )
        )
    return result
