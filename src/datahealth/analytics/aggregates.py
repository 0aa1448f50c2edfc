"""Aggregates of submitted responses: count tables by group, score statistics, suppressed views.

Every table is a plain matrix of counts with rows = groups (bed band, prefecture, founder type) or
categories, and columns = answers or outcomes; its row totals, column totals and grand total are part
of it. ``TableView`` is what reports render: for the ministry (internal) every count; for anything
published outside the ministry (public) the same table after small-cell suppression, where a percentage
is shown only when both its count and its denominator are shown.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from datahealth.analytics.dataset import HospitalRecord
from datahealth.analytics.mapping import Indicator, NumberDistribution, ScoringMap
from datahealth.analytics.suppression import THRESHOLD, Suppression, extended, suppress
from datahealth.institutions import BED_BANDS, FOUNDER_TYPES, PREFECTURES
from datahealth.survey.model import Question, QuestionType, SurveyDefinition, Text

View = Literal["internal", "public"]
GroupBy = Literal["band", "prefecture", "founder"]
Label = tuple[str, Text]

GROUP_TITLES: dict[str, Text] = {
    "band": Text(ja="病床規模", en="Bed-size band"),
    "prefecture": Text(ja="都道府県", en="Prefecture"),
    "founder": Text(ja="開設者区分", en="Founder type"),
}
MET_COLUMNS: list[Label] = [("met", Text(ja="達成", en="Met")), ("not_met", Text(ja="未達", en="Not met"))]
RESPONSE_COLUMNS: list[Label] = [
    ("submitted", Text(ja="提出", en="Submitted")),
    ("not_submitted", Text(ja="未提出", en="Not submitted")),
]


def groups(by: GroupBy) -> list[Label]:
    """The rows of a table by group, in the ministry's order (all of them, empty ones included)."""
    if by == "band":
        return [(band.key, Text(ja=band.label("ja"), en=band.label("en"))) for band in BED_BANDS]
    if by == "prefecture":
        return [(str(code), Text(ja=ja, en=en)) for code, (ja, en) in enumerate(PREFECTURES, start=1)]
    return [(key, Text(ja=ja, en=en)) for key, (ja, en) in FOUNDER_TYPES.items()]


def group_of(record: HospitalRecord, by: GroupBy) -> str | None:
    if by == "band":
        return record.band
    if by == "prefecture":
        return str(record.prefecture_code) if record.prefecture_code else None
    return record.founder_type


@dataclass(frozen=True)
class CountTable:
    key: str
    title: Text
    row_title: Text
    rows: list[Label]
    cols: list[Label]
    counts: list[list[int]]

    @property
    def full(self) -> list[list[int]]:
        """Counts extended by row totals (last column), column totals (last row) and the grand total."""
        return extended(self.counts)


@dataclass(frozen=True)
class Cell:
    count: int | None
    """``None`` when hidden."""
    percent: float | None
    """0–100 of the row total; ``None`` when hidden or the denominator is 0 or hidden."""
    small: bool = False
    """The count is below the threshold (marked in the ministry's internal view)."""


@dataclass(frozen=True)
class RowView:
    key: str
    label: Text
    cells: list[Cell]
    total: Cell


@dataclass(frozen=True)
class TableView:
    key: str
    title: Text
    row_title: Text
    cols: list[Label]
    rows: list[RowView]
    totals: RowView
    suppressed: bool
    """Some entries are hidden (public view)."""


def view_table(table: CountTable, view: View, threshold: int = THRESHOLD) -> TableView:
    full = table.full
    n_rows, n_cols = len(table.rows), len(table.cols)
    mask = suppress(table.counts, threshold) if view == "public" and n_rows and n_cols else None

    def hidden(i: int, j: int) -> bool:
        return mask is not None and (i, j) in mask.hidden

    def cell(i: int, j: int) -> Cell:
        value, denominator = full[i][j], full[i][n_cols]
        if hidden(i, j):
            return Cell(None, None)
        shown_denominator = not hidden(i, n_cols) and denominator > 0
        percent = 100.0 * value / denominator if shown_denominator else None
        return Cell(value, percent, value < threshold)

    def row(i: int, key: str, label: Text) -> RowView:
        return RowView(key, label, [cell(i, j) for j in range(n_cols)], cell(i, n_cols))

    rows = [row(i, key, label) for i, (key, label) in enumerate(table.rows)]
    totals = row(n_rows, "total", Text(ja="合計", en="Total"))
    return TableView(table.key, table.title, table.row_title, table.cols, rows, totals, bool(mask and mask.any))


def suppression_of(table: CountTable, threshold: int = THRESHOLD) -> Suppression:
    return suppress(table.counts, threshold)


# --- count tables ---------------------------------------------------------------------------------------


def _tabulate(
    records: Iterable[HospitalRecord],
    rows: list[Label],
    cols: list[Label],
    row_of: Callable[[HospitalRecord], str | None],
    col_of: Callable[[HospitalRecord], str | None],
) -> list[list[int]]:
    row_index = {key: i for i, (key, _label) in enumerate(rows)}
    col_index = {key: j for j, (key, _label) in enumerate(cols)}
    counts = [[0] * len(cols) for _ in rows]
    for record in records:
        i, j = row_index.get(row_of(record) or ""), col_index.get(col_of(record) or "")
        if i is not None and j is not None:
            counts[i][j] += 1
    return counts


def response_table(records: Sequence[HospitalRecord], by: GroupBy) -> CountTable:
    rows = groups(by)
    counts = _tabulate(
        records,
        rows,
        RESPONSE_COLUMNS,
        lambda r: group_of(r, by),
        lambda r: "submitted" if r.submitted else "not_submitted",
    )
    title = Text(ja=f"回答状況（{GROUP_TITLES[by].ja}別）", en=f"Responses by {GROUP_TITLES[by].en.lower()}")
    return CountTable(f"response_{by}", title, GROUP_TITLES[by], rows, RESPONSE_COLUMNS, counts)


def item_table(records: Sequence[HospitalRecord], scoring: ScoringMap, item_key: str, by: GroupBy) -> CountTable:
    item = scoring.item(item_key)
    rows = groups(by)

    def status(record: HospitalRecord) -> str | None:
        return record.score.items[item_key].status if record.score else None

    counts = _tabulate(records, rows, MET_COLUMNS, lambda r: group_of(r, by), status)
    return CountTable(f"item_{item_key}_{by}", item.label, GROUP_TITLES[by], rows, MET_COLUMNS, counts)


def answer_columns(defn: SurveyDefinition, question: Question) -> list[Label]:
    return [(choice.name, choice.label) for choice in defn.choices_for(question)]


def tabulated_questions(defn: SurveyDefinition) -> list[Question]:
    """Questions whose answers are tabulated: yes/no and single choice (select_multiple separately)."""
    kinds = (QuestionType.YES_NO, QuestionType.SELECT_ONE)
    return [question for question in defn.questions() if question.type in kinds]


def answer_table(
    records: Sequence[HospitalRecord], defn: SurveyDefinition, question: Question, by: GroupBy
) -> CountTable:
    cols = answer_columns(defn, question)
    rows = groups(by)

    def answer(record: HospitalRecord) -> str | None:
        value = (record.answers or {}).get(question.name)
        return value if isinstance(value, str) else None

    counts = _tabulate(records, rows, cols, lambda r: group_of(r, by), answer)
    title = Text(
        ja=f"{question.display_code} {question.label.ja}", en=f"{question.display_code} {question.label.get('en')}"
    )
    return CountTable(f"answer_{question.name}_{by}", title, GROUP_TITLES[by], rows, cols, counts)


def multiple_choice_table(records: Sequence[HospitalRecord], defn: SurveyDefinition, question: Question) -> CountTable:
    """A select_multiple nationally: one row per choice, chosen / not chosen among those who answered."""
    cols: list[Label] = [("chosen", Text(ja="選択", en="Chosen")), ("not_chosen", Text(ja="非選択", en="Not chosen"))]
    rows = answer_columns(defn, question)
    answered = [(r.answers or {}).get(question.name) for r in records]
    lists = [value for value in answered if isinstance(value, list)]
    counts = [[sum(1 for v in lists if key in v), sum(1 for v in lists if key not in v)] for key, _label in rows]
    title = Text(
        ja=f"{question.display_code} {question.label.ja}", en=f"{question.display_code} {question.label.get('en')}"
    )
    return CountTable(f"answer_{question.name}", title, Text(ja="選択肢", en="Choice"), rows, cols, counts)


def indicator_labels(indicator: Indicator) -> list[Label]:
    return [(category.key, category.label) for category in indicator.categories]


def cross_table(records: Sequence[HospitalRecord], scoring: ScoringMap, rows_key: str, cols_key: str) -> CountTable:
    row_indicator, col_indicator = scoring.indicator(rows_key), scoring.indicator(cols_key)
    rows, cols = indicator_labels(row_indicator), indicator_labels(col_indicator)
    counts = _tabulate(
        records,
        rows,
        cols,
        lambda r: r.score.indicators.get(rows_key) if r.score else None,
        lambda r: r.score.indicators.get(cols_key) if r.score else None,
    )
    title = Text(
        ja=f"{row_indicator.label.ja} × {col_indicator.label.ja}",
        en=f"{row_indicator.label.get('en')} × {col_indicator.label.get('en')}",
    )
    return CountTable(f"cross_{rows_key}_{cols_key}", title, row_indicator.label, rows, cols, counts)


def distribution_table(records: Sequence[HospitalRecord], distribution: NumberDistribution, by: GroupBy) -> CountTable:
    cols: list[Label] = [(b.key, b.label) for b in distribution.bins]
    rows = groups(by)

    def bin_of(record: HospitalRecord) -> str | None:
        value = record.score.numbers.get(distribution.question) if record.score else None
        if value is None:
            return None
        return next((b.key for b in distribution.bins if b.holds(value)), None)

    counts = _tabulate(records, rows, cols, lambda r: group_of(r, by), bin_of)
    return CountTable(
        f"distribution_{distribution.question}_{by}", distribution.label, GROUP_TITLES[by], rows, cols, counts
    )


# --- score statistics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreStats:
    n: int
    median: float | None
    """Median overall score (0–1); ``None`` when the group is smaller than the threshold."""
    quartiles: tuple[float, float] | None
    domain_means: dict[str, float | None]


def score_stats(records: Iterable[HospitalRecord], scoring: ScoringMap, threshold: int = THRESHOLD) -> ScoreStats:
    scores = [r.score for r in records if r.score is not None]
    overall = sorted(s.overall for s in scores if s.overall is not None)
    if len(overall) < threshold:
        return ScoreStats(len(scores), None, None, dict.fromkeys((d.key for d in scoring.domains), None))
    quartiles = statistics.quantiles(overall, n=4, method="inclusive")
    means: dict[str, float | None] = {}
    for domain in scoring.domains:
        values = [s.domains[domain.key].score for s in scores]
        present = [v for v in values if v is not None]
        means[domain.key] = statistics.fmean(present) if len(present) >= threshold else None
    return ScoreStats(len(scores), statistics.median(overall), (quartiles[0], quartiles[2]), means)


def stats_by(
    records: Sequence[HospitalRecord], scoring: ScoringMap, by: GroupBy, threshold: int = THRESHOLD
) -> dict[str, ScoreStats]:
    grouped: dict[str, list[HospitalRecord]] = {key: [] for key, _label in groups(by)}
    for record in records:
        key = group_of(record, by)
        if key in grouped:
            grouped[key].append(record)
    return {key: score_stats(members, scoring, threshold) for key, members in grouped.items()}


def share_below(records: Iterable[HospitalRecord], score: float, threshold: int = THRESHOLD) -> float | None:
    """Share (0–1) of the group whose overall score is below ``score``, ties counted half."""
    values = [r.score.overall for r in records if r.score is not None and r.score.overall is not None]
    if len(values) < threshold:
        return None
    below = sum(1 for v in values if v < score) + 0.5 * sum(1 for v in values if v == score)
    return below / len(values)
