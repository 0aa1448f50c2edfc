"""Feedback right after submission, PDF downloads, the national dashboard, and who may see what."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from datahealth.survey.tables import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))  # report_world, shared with analytics
from report_world import ReportWorld, make_report_world  # noqa: E402

from web_client import Browser  # noqa: E402


def world_with_draft(session_factory: sessionmaker[Session]) -> ReportWorld:
    """Hospital A (``hosp-a``) has a complete draft; the 23 others have submitted."""
    with session_factory.begin() as db:
        world = make_report_world(db, submit_first=False)
        db.execute(
            insert(Response),
            [
                {
                    "survey_id": world.survey_id,
                    "organisation_id": world.hospitals[0],
                    "answers": f.complete_answers(),
                    "revision": 1,
                }
            ],
        )
    return world


def test_hospital_sees_its_feedback_at_once_after_submitting(
    browser: Browser, session_factory: sessionmaker[Session]
) -> None:
    world = world_with_draft(session_factory)
    browser.login("hosp-a")
    before = browser.get(f"/surveys/{world.survey_id}/feedback")
    assert before.status_code == 409 and "DH-R202" in before.text
    browser.get(f"/surveys/{world.survey_id}/review")
    submitted = browser.post(f"/surveys/{world.survey_id}/submit", follow_redirects=False)
    assert submitted.status_code == 303
    receipt = browser.get(f"/surveys/{world.survey_id}/receipt")
    assert f'href="/surveys/{world.survey_id}/feedback"' in receipt.text
    page = browser.get(f"/surveys/{world.survey_id}/feedback")
    assert page.status_code == 200
    html = page.text
    assert "サイバーセキュリティ対策 フィードバック" in html and "テスト病院00" in html
    assert "優先して取り組むこと" in html and "経営管理編 3.4.1" in html
    assert "16 項目を達成" in html  # complete_answers: 16 of 20 (hand-computed in test_scoring)
    assert "前回調査からの変化" in html
    assert "<svg" in html and 'role="img"' in html
    assert ' style="' not in html and "<style" not in html  # CSP: no inline styles
    pdf = browser.get(f"/surveys/{world.survey_id}/feedback.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "feedback-cyber-fy2024-" in pdf.headers["content-disposition"]


def test_english_feedback(browser: Browser, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as db:
        world = make_report_world(db)
    browser.login("hosp-a")
    browser.get("/lang/en?next=/")
    page = browser.get(f"/surveys/{world.survey_id}/feedback")
    assert page.status_code == 200 and "Cybersecurity feedback" in page.text and "What to do first" in page.text


def test_hospitals_see_only_their_own(
    browser: Browser, other_browser: Browser, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as db:
        world = make_report_world(db)
        other = f.make_org(db, code="4711111111", name="対象外病院", prefecture_code=47)
        f.make_user(db, other, "not-a-target")
    browser.login("hosp-b")
    own = browser.get(f"/surveys/{world.survey_id}/feedback")
    assert own.status_code == 200 and "テスト病院01" in own.text and "テスト病院00" not in own.text
    for url in (
        f"/admin/surveys/{world.survey_id}/feedback/{world.hospitals[0]}",
        f"/admin/surveys/{world.survey_id}/feedback/{world.hospitals[0]}.pdf",
        f"/admin/surveys/{world.survey_id}/national",
        f"/admin/surveys/{world.survey_id}/national.pdf",
        f"/admin/surveys/{world.survey_id}/national.xlsx",
        f"/surveys/{world.survey_id + 999}/feedback",
    ):
        assert browser.get(url).status_code == 404, url
    other_browser.login("not-a-target")
    assert other_browser.get(f"/surveys/{world.survey_id}/feedback").status_code == 404


def test_national_dashboard(browser: Browser, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as db:
        world = make_report_world(db)
    browser.login("admin")
    internal = browser.get(f"/admin/surveys/{world.survey_id}/national")
    assert internal.status_code == 200
    assert "全国集計（省内用（全件表示））" in internal.text and "要フォローアップ病院" in internal.text
    assert ' style="' not in internal.text
    public = browser.get(f"/admin/surveys/{world.survey_id}/national?view=public&question=q13")
    assert public.status_code == 200 and "要フォローアップ病院" not in public.text
    assert "テスト病院" not in public.text.split('<main id="main"', 1)[1]
    bad = browser.get(f"/admin/surveys/{world.survey_id}/national?view=everything")
    assert bad.status_code == 400 and "DH-R203" in bad.text
    xlsx = browser.get(f"/admin/surveys/{world.survey_id}/national.xlsx?view=public")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    pdf = browser.get(f"/admin/surveys/{world.survey_id}/national.pdf?view=public")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    again = browser.get(f"/admin/surveys/{world.survey_id}/national.pdf?view=public")
    assert again.content == pdf.content  # made once per state of the data
    hospital = browser.get(f"/admin/surveys/{world.survey_id}/feedback/{world.hospitals[2]}")
    assert hospital.status_code == 200 and "テスト病院02" in hospital.text
    survey_page = browser.get(f"/admin/surveys/{world.survey_id}")
    assert f"/admin/surveys/{world.survey_id}/national" in survey_page.text


def test_survey_without_a_scoring_map(browser: Browser, session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as db:
        world = make_report_world(db, previous=False)
        from datahealth.survey.tables import Survey

        survey = db.get(Survey, world.survey_id)
        assert survey is not None
        survey.survey_key = "my-own-survey"
    browser.login("admin")
    page = browser.get(f"/admin/surveys/{world.survey_id}/national")
    assert page.status_code == 404 and "DH-R201" in page.text
