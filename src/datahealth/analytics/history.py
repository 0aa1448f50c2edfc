"""Year over year: the previous survey named by the scoring map, per hospital and per question.

Questions are matched across the two surveys by their XLSForm name (``q7_1`` in both years) and
scoring items by their key, so a new survey that renames a question simply has no comparison for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.analytics.aggregates import CountTable, Label
from datahealth.analytics.dataset import HospitalRecord, ScoreCache, SurveyData, load_survey_data
from datahealth.analytics.mapping import ScoringMap
from datahealth.analytics.scoring import ItemStatus
from datahealth.survey.model import QuestionType, Text
from datahealth.survey.tables import Survey, SurveyStatus

Change = Literal["improved", "regressed", "unchanged", "new"]
Reader = Callable[[HospitalRecord], bool | None]


def previous_survey(db: Session, survey: Survey, scoring: ScoringMap) -> Survey | None:
    """The latest registered (not draft) survey of the key the map names as previous, if any."""
    if not scoring.previous_survey:
        return None
    return db.scalar(
        select(Survey)
        .where(
            Survey.survey_key == scoring.previous_survey, Survey.status != SurveyStatus.DRAFT, Survey.id != survey.id
        )
        .order_by(Survey.closes_on.desc(), Survey.id.desc())
        .limit(1)
    )


def load_previous(
    db: Session, survey: Survey, scoring: ScoringMap, cache: ScoreCache | None = None
) -> SurveyData | None:
    previous = previous_survey(db, survey, scoring)
    if previous is None:
        return None
    from datahealth.analytics.mapping import load_scoring

    if load_scoring(previous.survey_key) is None:
        return None
    return load_survey_data(db, previous, cache)


@dataclass(frozen=True)
class ItemChange:
    key: str
    label: Text
    before: ItemStatus | None
    """``None`` when the previous survey did not ask it."""
    after: ItemStatus
    change: Change


@dataclass(frozen=True)
class HospitalHistory:
    title: Text
    before_met: int
    before_applicable: int
    changes: list[ItemChange]

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change == change)


def _change(before: ItemStatus | None, after: ItemStatus) -> Change:
    if before is None or before in ("not_applicable", "unanswered") or after in ("not_applicable", "unanswered"):
        return "new" if before is None else "unchanged"
    if before == after:
        return "unchanged"
    return "improved" if after == "met" else "regressed"


def hospital_history(
    previous: SurveyData | None, current: HospitalRecord, scoring: ScoringMap
) -> HospitalHistory | None:
    """What changed for one hospital since its previous submitted response (None if there is none)."""
    if previous is None or current.score is None:
        return None
    before = previous.record_of(current.organisation_id)
    if before is None or before.score is None:
        return None
    changes = []
    for item in scoring.items:
        old = before.score.items.get(item.key)
        new = current.score.items[item.key]
        changes.append(
            ItemChange(
                item.key,
                item.label,
                old.status if old else None,
                new.status,
                _change(old.status if old else None, new.status),
            )
        )
    title = Text(ja=previous.defn.title.ja, en=previous.defn.title.get("en"))
    return HospitalHistory(title, before.score.met, before.score.applicable, changes)


# --- national trends ------------------------------------------------------------------------------------

TREND_COLUMNS: list[Label] = [
    ("yes", Text(ja="はい／達成", en="Yes / met")),
    ("no", Text(ja="いいえ／未達", en="No / not met")),
]
PAIR_COLUMNS: list[Label] = [
    ("improved", Text(ja="改善", en="Improved")),
    ("regressed", Text(ja="後退", en="Regressed")),
    ("kept_yes", Text(ja="継続して達成", en="Met both years")),
    ("kept_no", Text(ja="継続して未達", en="Not met both years")),
]


@dataclass(frozen=True)
class Trends:
    previous_title: Text
    before: CountTable
    """Rows = questions and items in both years; yes/no (met/not met) in the previous survey."""
    after: CountTable
    pairs: CountTable
    """Hospitals that answered both years: how each changed."""


def trends(previous: SurveyData, current: SurveyData) -> Trends:
    """Yes-rates of the yes/no questions and met-rates of the items both years share, with paired changes."""
    rows: list[Label] = []
    readers: list[Reader] = []
    for question in current.defn.questions():
        if question.type != QuestionType.YES_NO or question.name not in {q.name for q in previous.defn.questions()}:
            continue
        rows.append(
            (
                f"q:{question.name}",
                Text(
                    ja=f"{question.display_code} {question.label.ja}",
                    en=f"{question.display_code} {question.label.get('en')}",
                ),
            )
        )
        readers.append(_question_reader(question.name))
    shared = [item for item in current.scoring.items if item.key in {i.key for i in previous.scoring.items}]
    for item in shared:
        rows.append((f"item:{item.key}", Text(ja=f"【項目】{item.label.ja}", en=f"[Item] {item.label.get('en')}")))
        readers.append(_item_reader(item.key))
    before_counts: list[list[int]] = []
    after_counts: list[list[int]] = []
    pair_counts: list[list[int]] = []
    by_org = {r.organisation_id: r for r in previous.submitted()}
    now = current.submitted()
    for read in readers:
        before_counts.append(_yes_no([read(r) for r in previous.submitted()]))
        after_counts.append(_yes_no([read(r) for r in now]))
        pairs = [0, 0, 0, 0]
        for record in now:
            old = by_org.get(record.organisation_id)
            if old is None:
                continue
            a, b = read(old), read(record)
            if a is None or b is None:
                continue
            pairs[{(False, True): 0, (True, False): 1, (True, True): 2, (False, False): 3}[(a, b)]] += 1
        pair_counts.append(pairs)
    title = Text(ja=previous.defn.title.ja, en=previous.defn.title.get("en"))
    label = Text(ja="設問・項目", en="Question / item")
    return Trends(
        title,
        CountTable(
            "trend_before", Text(ja="前回調査", en="Previous survey"), label, rows, TREND_COLUMNS, before_counts
        ),
        CountTable("trend_after", Text(ja="今回調査", en="This survey"), label, rows, TREND_COLUMNS, after_counts),
        CountTable(
            "trend_pairs",
            Text(ja="両年度に回答した病院の変化", en="Hospitals that answered both years"),
            label,
            rows,
            PAIR_COLUMNS,
            pair_counts,
        ),
    )


def _yes_no(values: list[bool | None]) -> list[int]:
    return [sum(1 for v in values if v is True), sum(1 for v in values if v is False)]


def _question_reader(name: str) -> Reader:
    def read(record: HospitalRecord) -> bool | None:
        value = (record.answers or {}).get(name)
        return None if value not in ("yes", "no") else value == "yes"

    return read


def _item_reader(key: str) -> Reader:
    def read(record: HospitalRecord) -> bool | None:
        if record.score is None:
            return None
        status = record.score.items[key].status
        return None if status not in ("met", "not_met") else status == "met"

    return read
