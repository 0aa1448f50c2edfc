"""Demo data for the previous year: the closed FY2023 survey, about 65 % answered, valid aged answers."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.history import load_previous, trends
from datahealth.demo import generate_hospitals, load_demo, plausible_answers
from datahealth.demo_history import age_answers
from datahealth.survey.answers import validate_submission
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Response, ResponseEvent, Survey


def test_aged_answers_are_valid_and_mostly_older() -> None:
    now, before = load_bundled("cyber-fy2024"), load_bundled("cyber-fy2023")
    rng = random.Random(3)
    kept = changed = 0
    for hospital in generate_hospitals(400, seed=5):
        current = plausible_answers(now, hospital, rng)
        old = age_answers(before, current, hospital, rng)
        assert validate_submission(before, old) == []
        for name in ("q7_1", "q14", "q17_6"):
            if current.get(name) == "yes" and name in old:
                kept += old[name] == "yes"
                changed += old[name] == "no"
    assert changed > 0.1 * (kept + changed)  # measures gained during the year


def test_demo_loads_the_previous_survey(db: Session) -> None:
    summary = load_demo(db, hospitals=300, seed=3, today=date(2026, 11, 21))
    db.commit()
    previous = db.scalar(select(Survey).where(Survey.survey_key == "cyber-fy2023"))
    assert previous is not None
    assert (previous.status, previous.opens_on, previous.closes_on) == ("closed", date(2024, 2, 1), date(2024, 3, 8))
    answered = db.scalar(select(func.count()).select_from(Response).where(Response.survey_id == previous.id)) or 0
    assert 0.55 < answered / 300 < 0.75  # published: 5,353 of 8,171 (65.5 %)
    defn = load_bundled("cyber-fy2023")
    for response in db.scalars(select(Response).where(Response.survey_id == previous.id)):
        assert response.status == "submitted" and response.receipt_code
        assert validate_submission(defn, response.answers) == []
    events = db.scalar(select(func.count()).select_from(ResponseEvent)) or 0
    assert events == summary.submitted  # imported history carries no submission events
    current = db.get(Survey, summary.survey_id)
    assert current is not None
    data = load_survey_data(db, current)
    before = load_previous(db, current, data.scoring)
    assert before is not None
    found = trends(before, data)
    keys = [key for key, _label in found.after.rows]
    assert "q:q7_1" in keys and "item:offline_backup" in keys and "q:q8" not in keys
    assert sum(sum(row) for row in found.pairs.counts) > 0
