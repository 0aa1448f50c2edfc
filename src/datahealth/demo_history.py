"""Synthetic demo answers to the previous year's survey (cyber-fy2023), for year-over-year reports.

The previous survey ran on G-MIS from 2024-02-01 to 2024-03-08; 8,171 hospitals were asked and 5,353
answered (65.5 %). Here about that share of the demo hospitals answered it. A hospital's previous
answers are its current ones "aged" by a year: some measures it has now were missing a year ago
(most often the recent ones — BCP drills, two-factor authentication, offline backups), a few it has
lost since; hospitals that have not answered this year get plausible answers for their bed band.
Everything is synthetic (see ``datahealth.demo``); the previous survey is closed, and its responses
carry receipts but no submission events (they stand for data imported from G-MIS).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation, OrgKind
from datahealth.clock import JST
from datahealth.demo import plausible_answers
from datahealth.survey.answers import prune, relevant_names
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import Answers, QuestionType, SurveyDefinition
from datahealth.survey.service import create_survey, set_status
from datahealth.survey.tables import Response, ResponseStatus, Survey, SurveyStatus

PREVIOUS_SURVEY_ID = "cyber-fy2023"
ANSWERED_IF_ANSWERING_NOW = 0.82
ANSWERED_OTHERWISE = 0.45
# P(a measure a hospital has now was missing a year ago); other yes/no questions use DEFAULT_GAINED.
GAINED: dict[str, float] = {
    "q7_1": 0.18,
    "q7_2": 0.30,
    "q14": 0.35,
    "q17_6": 0.20,
    "q2_1": 0.06,
    "q12": 0.12,
    "q11": 0.12,
}
DEFAULT_GAINED = 0.08
LOST = 0.03
"""P(a measure missing now was in place a year ago)."""
_CHUNK = 1000


def age_answers(defn: SurveyDefinition, current: Answers, hospital: dict[str, Any], rng: random.Random) -> Answers:
    """Plausible previous-year answers of a hospital that answers ``current`` now (valid for ``defn``)."""
    aged: Answers = {}
    for question in defn.questions():
        value = current.get(question.name)
        if value is None:
            continue
        if question.type == QuestionType.YES_NO:
            if value == "yes" and rng.random() < GAINED.get(question.name, DEFAULT_GAINED):
                value = "no"
            elif value == "no" and rng.random() < LOST:
                value = "yes"
        elif question.name == "q13" and isinstance(value, str) and value.isdigit() and rng.random() < 0.15:
            value = str(max(4, int(value) - rng.choice((1, 2, 4, 5))))
        aged[question.name] = value
    return _complete(defn, prune(defn, aged), hospital, rng)


def _complete(defn: SurveyDefinition, answers: Answers, hospital: dict[str, Any], rng: random.Random) -> Answers:
    """Fill questions that became relevant (e.g. Q7-2 after Q7-1 turned yes) from plausible draws."""
    for _attempt in range(30):
        shown = relevant_names(defn, answers)
        missing = [
            q.name
            for q in defn.questions()
            if q.answerable and q.required and q.name in shown and q.name not in answers
        ]
        if not missing:
            return answers
        draw = plausible_answers(defn, hospital, rng)
        for name in missing:
            if name in draw:
                answers[name] = draw[name]
        answers = prune(defn, answers)
    for name in missing:  # vanishingly rare: settle with the cautious answer
        question = defn.question(name)
        answers[name] = "no" if question.type == QuestionType.YES_NO else defn.choices_for(question)[0].name
    return prune(defn, answers)


def load_previous_year(
    db: Session,
    current_survey: Survey,
    *,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> Survey:
    """Register the closed previous survey and the demo hospitals' answers to it. Only flushes."""
    report = progress or (lambda _stage, _done, _total: None)
    rng = random.Random(seed + 2023)  # noqa: S311 - synthetic demo data, not security  # nosec B311
    defn = load_bundled(PREVIOUS_SURVEY_ID)
    assert defn.period is not None  # noqa: S101 - the bundled definition has its period  # nosec B101
    survey = create_survey(db, defn)
    set_status(db, survey, SurveyStatus.OPEN)  # makes every hospital a target
    set_status(db, survey, SurveyStatus.CLOSED)
    hospitals = db.execute(
        select(Organisation.id, Organisation.name, Organisation.bed_count).where(Organisation.kind == OrgKind.HOSPITAL)
    ).all()
    now_answers: dict[int, Answers] = dict(
        db.execute(
            select(Response.organisation_id, Response.answers).where(
                Response.survey_id == current_survey.id, Response.status == ResponseStatus.SUBMITTED
            )
        ).all()
    )
    rows: list[dict[str, Any]] = []
    for org_id, name, beds in hospitals:
        current = now_answers.get(org_id)
        share = ANSWERED_IF_ANSWERING_NOW if current else ANSWERED_OTHERWISE
        if rng.random() >= share:
            continue
        hospital = {"name": name, "bed_count": beds}
        answers = age_answers(defn, dict(current), hospital, rng) if current else plausible_answers(defn, hospital, rng)
        moment = _moment(rng, defn.period.opens, defn.period.closes)
        rows.append(
            {
                "survey_id": survey.id,
                "organisation_id": org_id,
                "status": ResponseStatus.SUBMITTED.value,
                "answers": answers,
                "revision": rng.randint(1, 5),
                "created_at": moment - timedelta(days=rng.randint(0, 5), minutes=rng.randint(5, 300)),
                "updated_at": moment,
                "submitted_at": moment,
            }
        )
    done = 0
    for start in range(0, len(rows), _CHUNK):
        batch = rows[start : start + _CHUNK]
        ids = db.execute(insert(Response).returning(Response.id), batch).scalars().all()
        receipts = [
            {"id": i, "receipt_code": f"{survey.survey_key.upper()}-{i:06d}-{secrets.token_hex(3).upper()}"}
            for i in ids
        ]
        db.execute(update(Response), receipts)
        done += len(batch)
        report("previous survey", done, len(rows))
    db.flush()
    return survey


def _moment(rng: random.Random, first: date, last: date) -> datetime:
    day = first + timedelta(days=rng.randrange((last - first).days + 1))
    local = datetime.combine(day, time(9), tzinfo=JST) + timedelta(seconds=rng.randrange(9 * 3600))
    return local.astimezone(UTC)
