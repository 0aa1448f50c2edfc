"""A small national picture for report tests: hospitals in three prefectures, submitted answers, a previous year.

Tokyo (13) has 14 hospitals, Osaka (27) 6 and Tottori (31) 4, so Tokyo is a group of 10 or more and the
others are small groups whose figures must be hidden. Answers are the demo generator's, seeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

import factories as f
from datahealth.demo import plausible_answers
from datahealth.demo_history import age_answers
from datahealth.survey.definitions import load_bundled
from datahealth.survey.service import create_survey, set_status
from datahealth.survey.tables import Response, ResponseStatus, SurveyStatus

PREFECTURES = [13] * 14 + [27] * 6 + [31] * 4
BEDS = [40, 150, 250, 350, 450, 600]


@dataclass
class ReportWorld:
    survey_id: int
    previous_id: int | None
    hospitals: list[int]
    """Organisation ids in creation order; the first belongs to login ``hosp-a``."""
    codes: list[str]


def make_report_world(db: Session, *, seed: int = 7, previous: bool = True, submit_first: bool = True) -> ReportWorld:
    rng = random.Random(seed)
    defn = load_bundled("cyber-fy2024")
    orgs = []
    for i, prefecture in enumerate(PREFECTURES):
        org = f.make_org(
            db,
            code=f"{prefecture:02d}1{i:07d}",
            name=f"テスト病院{i:02d}",
            prefecture_code=prefecture,
            bed_count=BEDS[i % 6],
        )
        orgs.append(org)
    f.make_user(db, orgs[0], "hosp-a")
    f.make_user(db, orgs[1], "hosp-b")
    f.make_admin(db, "admin")
    survey = f.make_open_survey(db, defn)
    moment = datetime(2025, 2, 10, 3, tzinfo=UTC)
    rows, current = [], {}
    for i, org in enumerate(orgs):
        answers = plausible_answers(defn, {"name": org.name, "bed_count": org.bed_count}, rng)
        current[org.id] = answers
        if i == 0 and not submit_first:
            continue
        rows.append(_row(survey.id, org.id, answers, moment))
    db.execute(insert(Response), rows)
    previous_id = None
    if previous:
        old = load_bundled("cyber-fy2023")
        before = create_survey(db, old)
        set_status(db, before, SurveyStatus.OPEN)
        set_status(db, before, SurveyStatus.CLOSED)
        old_moment = datetime(2024, 2, 20, 3, tzinfo=UTC)
        old_rows = [
            _row(
                before.id,
                org.id,
                age_answers(old, current[org.id], {"name": org.name, "bed_count": org.bed_count}, rng),
                old_moment,
            )
            for org in orgs[: len(orgs) - 4]
        ]
        db.execute(insert(Response), old_rows)
        previous_id = before.id
    db.flush()
    return ReportWorld(survey.id, previous_id, [o.id for o in orgs], [o.code for o in orgs])


def _row(survey_id: int, org_id: int, answers: dict[str, object], moment: datetime) -> dict[str, object]:
    return {
        "survey_id": survey_id,
        "organisation_id": org_id,
        "status": ResponseStatus.SUBMITTED.value,
        "answers": answers,
        "revision": 1,
        "created_at": moment,
        "updated_at": moment,
        "submitted_at": moment,
    }
