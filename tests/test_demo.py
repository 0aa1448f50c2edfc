"""Synthetic demo data: plausible hospitals, valid answers that follow the published figures by band."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import verify_password
from datahealth.auth.tables import Organisation, OrgKind, User
from datahealth.clock import jst_date
from datahealth.demo import (
    DEMO_PASSWORD,
    band_index,
    demo_logins,
    generate_hospitals,
    has_demo,
    load_demo,
    plausible_answers,
)
from datahealth.errors import Conflict
from datahealth.institutions import PREFECTURES, bed_band
from datahealth.survey.answers import relevant_names, validate_submission
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.progress import survey_progress
from datahealth.survey.tables import Response, ResponseEvent, ResponseStatus, Survey, SurveyTarget

TODAY = date(2025, 2, 16)


@pytest.fixture(scope="module")
def defn() -> SurveyDefinition:
    return load_bundled("cyber-fy2024")


def count(db: Session, entity: type[object], *conditions: object) -> int:
    stmt = select(func.count()).select_from(entity)
    for condition in conditions:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return db.scalar(stmt) or 0


def test_generated_hospitals_are_plausible() -> None:
    hospitals = generate_hospitals(3000, seed=1)
    assert hospitals == generate_hospitals(3000, seed=1)  # reproducible
    assert len({h["code"] for h in hospitals}) == 3000
    assert len({h["name"] for h in hospitals}) == 3000
    for hospital in hospitals:
        assert re.fullmatch(r"[0-9]{2}1[0-9]{7}", hospital["code"])
        assert int(hospital["code"][:2]) == hospital["prefecture_code"]
        assert 1 <= hospital["prefecture_code"] <= len(PREFECTURES)
        assert hospital["bed_count"] >= 20
        assert hospital["name"].endswith(("病院", "センター", "ホスピタル", "医院"))
    founders = Counter(h["founder_type"] for h in hospitals)
    assert 0.64 < founders["medical_corporation"] / 3000 < 0.76
    assert 0.11 < founders["public"] / 3000 < 0.19
    bands = Counter(bed_band(h["bed_count"]).key for h in hospitals)  # type: ignore[union-attr]
    assert bands["20-99"] + bands["100-199"] > 0.6 * 3000  # most hospitals are small
    assert 0.02 * 3000 < bands["500+"] < 0.10 * 3000  # few are large
    prefectures = Counter(h["prefecture_code"] for h in hospitals)
    assert prefectures[13] > prefectures[31]  # Tokyo has far more than Tottori


def test_answers_follow_the_published_figures_by_band(defn: SurveyDefinition) -> None:
    rng = random.Random(11)
    yes: dict[tuple[str, int], int] = Counter()
    asked: dict[tuple[str, int], int] = Counter()
    lengths: Counter[int] = Counter()
    for hospital in generate_hospitals(6000, seed=3):
        band = band_index(hospital["bed_count"])
        answers = plausible_answers(defn, hospital, rng)
        assert validate_submission(defn, answers) == []
        assert set(answers) <= relevant_names(defn, answers)
        assert answers["q1_2"] == hospital["name"]
        lengths[int(str(answers["q13"]))] += 1
        for name in ("q2_1", "q7_1", "q7_2", "q14", "q17_1", "q17_6"):
            if name in answers:
                asked[name, band] += 1
                yes[name, band] += answers[name] == "yes"

    def share(name: str, band: int) -> float:
        return yes[name, band] / asked[name, band]

    assert share("q2_1", 5) > share("q2_1", 0) + 0.2  # CISO: ~96 % at 500+ beds, ~65 % at 20–99
    assert 0.55 < share("q2_1", 0) < 0.75 and share("q2_1", 5) > 0.88
    assert 0.18 < share("q7_1", 0) < 0.32 and share("q7_1", 5) > share("q7_1", 0)  # BCP
    assert share("q7_2", 5) > share("q7_2", 0)  # BCP exercised, among those with one
    assert share("q17_1", 5) > share("q17_1", 0) + 0.3  # EHR use rises with beds
    total = sum(lengths.values())
    assert lengths.most_common(1)[0][0] == 8
    assert sum(n for length, n in lengths.items() if length <= 6) / total > 0.05
    assert sum(n for length, n in lengths.items() if length >= 13) / total > 0.05


def test_load_demo(db: Session, defn: SurveyDefinition) -> None:
    stages: Counter[str] = Counter()
    summary = load_demo(
        db, hospitals=300, seed=7, today=TODAY, progress=lambda stage, done, total: stages.update([stage])
    )
    db.commit()

    assert summary.hospitals == 300
    assert count(db, Organisation, Organisation.kind == OrgKind.HOSPITAL) == 300
    assert count(db, User) == 301
    assert count(db, SurveyTarget, SurveyTarget.survey_id == summary.survey_id) == 300
    assert {"hospitals", "accounts", "responses"} <= set(stages)

    survey = db.get(Survey, summary.survey_id)
    assert survey is not None
    assert (survey.status, survey.opens_on, survey.closes_on) == (
        "open",
        TODAY - timedelta(days=20),
        TODAY + timedelta(days=22),
    )

    responses = db.scalars(select(Response).where(Response.survey_id == survey.id)).all()
    submitted = [r for r in responses if r.status == ResponseStatus.SUBMITTED]
    drafts = [r for r in responses if r.status == ResponseStatus.DRAFT]
    assert (len(submitted), len(drafts)) == (summary.submitted, summary.drafts)
    assert 0.45 < len(submitted) / 300 < 0.65
    assert 0.06 < len(drafts) / 300 < 0.19
    receipts = set()
    for response in submitted:
        assert validate_submission(defn, response.answers) == []
        assert response.submitted_at is not None and response.receipt_code
        assert survey.opens_on <= jst_date(response.submitted_at) < TODAY
        assert response.created_at <= response.updated_at
        receipts.add(response.receipt_code)
    assert len(receipts) == len(submitted)
    assert count(db, ResponseEvent, ResponseEvent.kind == "submitted") == len(submitted)
    assert any(validate_submission(defn, draft.answers) for draft in drafts)  # drafts are partial

    progress = survey_progress(db, survey.id)
    assert (progress.overall.submitted, progress.overall.draft, progress.overall.total) == (
        summary.submitted,
        summary.drafts,
        300,
    )


def _logs_in(db: Session, login_id: str) -> User:
    user = db.scalar(select(User).where(User.login_id == login_id))
    assert user is not None and user.is_active and verify_password(user.password_hash, DEMO_PASSWORD)
    return user


def test_demo_accounts_log_in(db: Session) -> None:
    summary = load_demo(db, hospitals=20, seed=1, today=TODAY)
    db.commit()
    assert summary.password == DEMO_PASSWORD and len(DEMO_PASSWORD) >= 13
    admin = _logs_in(db, summary.admin_login)
    assert (admin.role, admin.display_name) == ("admin", "厚生労働省 調査事務局")

    first = _logs_in(db, "demo-hospital1")
    organisation = first.organisation
    assert (first.role, organisation.prefecture_code, organisation.bed_count) == ("hospital", 13, 120)
    assert count(db, Response, Response.organisation_id == first.organisation_id) == 0  # not started

    second = _logs_in(db, "demo-hospital2")
    draft = db.scalar(select(Response).where(Response.organisation_id == second.organisation_id))
    assert draft is not None and draft.status == ResponseStatus.DRAFT and draft.answers

    assert summary.hospital_logins[:2] == ["demo-hospital1", "demo-hospital2"]
    for login in summary.hospital_logins[2:]:
        user = _logs_in(db, login)
        response = db.scalar(select(Response).where(Response.organisation_id == user.organisation_id))
        assert response is not None and response.status == ResponseStatus.SUBMITTED


def test_demo_needs_an_empty_database(db: Session) -> None:
    assert not has_demo(db)
    load_demo(db, hospitals=5, seed=1, today=TODAY)
    assert has_demo(db)
    assert [login for _who, login in demo_logins()][:3] == ["admin", "demo-hospital1", "demo-hospital2"]
    with pytest.raises(Conflict) as caught:
        load_demo(db, hospitals=5, seed=1, today=TODAY)
    assert caught.value.code == "DH-G409"
