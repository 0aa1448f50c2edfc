"""The hospital's path through the FY2024 survey, as a browser without JavaScript would take it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Response, ResponseEvent

DEFN = load_bundled("cyber-fy2024")


def _stored(session_factory: sessionmaker[Session], org_id: int) -> Response | None:
    with session_factory() as db:
        return db.scalar(select(Response).where(Response.organisation_id == org_id))


def _save_all(browser, survey_id: int, answers: dict[str, object]) -> None:
    """Post each section with every question of it marked as shown (what the pages do, section by section)."""
    for section in DEFN.sections:
        shown = [q.name for q in section.questions if q.answerable]
        data = {"_shown": shown, "action": "save", **{k: v for k, v in answers.items() if k in shown}}
        response = browser.post(f"/surveys/{survey_id}/s/{section.name}", data, follow_redirects=False)
        assert response.status_code == 303, response.text


def test_login_is_required(browser, world):
    response = browser.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_wrong_password_is_refused_with_catalogued_error(browser, world):
    response = browser.login("hosp-a", "not the password")
    assert response.status_code == 401
    assert "DH-A101" not in response.text or "ログインIDまたはパスワードが正しくありません" in response.text
    assert "ログインIDまたはパスワードが正しくありません" in response.text


def test_home_lists_survey_with_status_and_deadline(browser, world):
    browser.login("hosp-a")
    page = browser.get("/")
    assert "令和6年度 病院における医療情報システムのサイバーセキュリティ対策に係る調査" in page.text
    assert "2025-03-07" in page.text
    assert "未着手" in page.text


def test_first_section_shows_only_relevant_questions(browser, world):
    browser.login("hosp-a")
    page = browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert 'id="q-q2_1"' in page.text
    assert 'id="q-q2_2"' not in page.text  # hidden until Q2-1 is yes
    assert "回答要領" in page.text and "経営管理編 3.1.2" in page.text


def test_answers_are_saved_as_typed_and_survive_reload(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/authentication_media")
    response = browser.post(
        f"/surveys/{world.survey_id}/s/authentication_media",
        {"_shown": ["q13", "q14", "q15"], "q13": "１３", "action": "save"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    stored = _stored(session_factory, world.hospital_a)
    assert stored is not None and stored.answers == {"q13": "１３"}  # kept exactly as typed
    page = browser.get(f"/surveys/{world.survey_id}/s/authentication_media")
    assert 'value="１３"' in page.text
    assert "全角数字は使えません" in page.text  # and the problem is shown inline


def test_non_relevant_answers_are_dropped_on_save(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    url = f"/surveys/{world.survey_id}/s/governance"
    browser.post(url, {"_shown": ["q2_1"], "q2_1": "yes"})
    browser.post(url, {"_shown": ["q2_1", "q2_2"], "q2_1": "yes", "q2_2": "yes"})
    browser.post(url, {"_shown": ["q2_1", "q2_2", "q2_3"], "q2_1": "yes", "q2_2": "yes", "q2_3": ["riss_exam"]})
    assert _stored(session_factory, world.hospital_a).answers["q2_3"] == ["riss_exam"]
    browser.post(url, {"_shown": ["q2_1", "q2_2", "q2_3"], "q2_1": "no", "q2_2": "yes", "q2_3": ["riss_exam"]})
    assert _stored(session_factory, world.hospital_a).answers == {"q2_1": "no"}  # transitive: Q2-3 went too


def test_forged_answer_to_hidden_question_is_not_stored(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/bcp")
    browser.post(f"/surveys/{world.survey_id}/s/bcp", {"_shown": ["q7_1", "q7_2"], "q7_1": "no", "q7_2": "yes"})
    assert _stored(session_factory, world.hospital_a).answers == {"q7_1": "no"}


def test_htmx_autosave_reveals_and_hides_conditional_questions(browser, world):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    url = f"/surveys/{world.survey_id}/s/governance"
    shown = browser.post(url, {"_shown": ["q2_1"], "q2_1": "yes"}, headers={"HX-Request": "true"})
    assert shown.status_code == 200
    assert 'id="q-wrap-q2_2" class="question" hx-swap-oob="true"' in shown.text
    assert 'name="q2_1"' not in shown.text  # the input being answered is never replaced
    hidden = browser.post(url, {"_shown": ["q2_1", "q2_2"], "q2_1": "no"}, headers={"HX-Request": "true"})
    assert 'id="q-wrap-q2_2" class="q-placeholder" hidden hx-swap-oob="true"' in hidden.text


def test_navigation_buttons_move_between_sections(browser, world):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    nxt = browser.post(
        f"/surveys/{world.survey_id}/s/governance", {"_shown": [], "action": "next"}, follow_redirects=False
    )
    assert nxt.headers["location"].endswith("/s/bcp")
    prev = browser.post(
        f"/surveys/{world.survey_id}/s/governance", {"_shown": [], "action": "prev"}, follow_redirects=False
    )
    assert prev.headers["location"].endswith("/s/respondent")
    review = browser.post(
        f"/surveys/{world.survey_id}/s/backup", {"_shown": [], "action": "review"}, follow_redirects=False
    )
    assert review.headers["location"].endswith("/review")


def test_submit_with_missing_answers_lists_each_question(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/review")
    response = browser.post(f"/surveys/{world.survey_id}/submit")
    assert response.status_code == 422
    assert "Q1-1：回答が必要です" in response.text
    assert "Q17-1：回答が必要です" in response.text
    assert "Q2-2：" not in response.text  # not relevant, so not required
    stored = _stored(session_factory, world.hospital_a)
    assert stored is None or stored.status == "draft"


def test_full_cycle_submit_receipt_read_only_and_reopen(browser, other_browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/respondent")
    _save_all(browser, world.survey_id, f.complete_answers("東京テスト病院"))
    browser.get(f"/surveys/{world.survey_id}/review")
    submitted = browser.post(f"/surveys/{world.survey_id}/submit", follow_redirects=False)
    assert submitted.status_code == 303 and submitted.headers["location"].endswith("/receipt")
    receipt = browser.get(f"/surveys/{world.survey_id}/receipt")
    stored = _stored(session_factory, world.hospital_a)
    assert stored.status == "submitted" and stored.receipt_code and stored.receipt_code in receipt.text
    assert stored.answers == f.complete_answers("東京テスト病院")

    # read-only now: the form redirects to the review, and saving is refused
    assert browser.get(f"/surveys/{world.survey_id}/s/governance", follow_redirects=False).status_code == 303
    refused = browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "no"})
    assert refused.status_code == 409 and "DH-S202" in refused.text
    assert _stored(session_factory, world.hospital_a).answers["q2_1"] == "yes"

    # the administrator reopens; the hospital can change it again
    other_browser.login("admin")
    other_browser.get(f"/admin/responses/{stored.id}")
    reopened = other_browser.post(
        f"/admin/responses/{stored.id}/reopen", {"note": "Q13 訂正のため"}, follow_redirects=False
    )
    assert reopened.status_code == 303
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    ok = browser.post(
        f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "no"}, follow_redirects=False
    )
    assert ok.status_code == 303
    with session_factory() as db:
        kinds = db.scalars(select(ResponseEvent.kind).order_by(ResponseEvent.id)).all()
    assert kinds == ["submitted", "reopened"]


def test_submit_outside_period_is_refused(browser, world, clock, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/respondent")
    _save_all(browser, world.survey_id, f.complete_answers())
    clock.moment = datetime(2025, 3, 7, 15, 0, tzinfo=UTC)  # 2025-03-08 00:00 JST: the day after closing
    browser.login("hosp-a")  # a month later the old session has expired
    browser.get(f"/surveys/{world.survey_id}/review")
    response = browser.post(f"/surveys/{world.survey_id}/submit")
    assert response.status_code == 409
    assert "回答期間外のため提出できません" in response.text
    assert _stored(session_factory, world.hospital_a).status == "draft"


def test_last_day_of_period_counts_in_japan_time(browser, world, clock, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/respondent")
    _save_all(browser, world.survey_id, f.complete_answers())
    clock.moment = datetime(2025, 3, 7, 14, 59, tzinfo=UTC)  # 23:59 JST on the closing day
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/review")
    assert browser.post(f"/surveys/{world.survey_id}/submit", follow_redirects=False).status_code == 303


def test_missing_csrf_token_is_refused(browser, world, session_factory):
    browser.login("hosp-a")
    response = browser.client.post(f"/surveys/{world.survey_id}/s/governance", data={"_shown": ["q2_1"], "q2_1": "no"})
    assert response.status_code == 403
    assert _stored(session_factory, world.hospital_a) is None


def test_hospital_cannot_see_another_hospitals_or_admin_pages(browser, other_browser, world, session_factory):
    other_browser.login("hosp-b")
    other_browser.get(f"/surveys/{world.survey_id}/s/governance")
    other_browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"})
    b_response = _stored(session_factory, world.hospital_b)
    browser.login("hosp-a")
    assert browser.get(f"/admin/responses/{b_response.id}").status_code == 404
    assert browser.get("/admin").status_code == 404
    assert browser.get(f"/admin/surveys/{world.survey_id}/export.csv").status_code == 404
    # and A's own form shows none of B's answers
    page = browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert 'value="yes" checked' not in page.text


def test_english_interface(browser, world):
    browser.login("hosp-a")
    browser.get("/lang/en?next=/")
    page = browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert 'lang="en"' in page.text
    assert "Answer guidance" in page.text
    review = browser.get(f"/surveys/{world.survey_id}/review")
    browser.post(f"/surveys/{world.survey_id}/submit")
    response = browser.post(f"/surveys/{world.survey_id}/submit")
    assert "an answer is required" in response.text
    assert review.status_code == 200


def test_logout_ends_the_session(browser, world):
    browser.login("hosp-a")
    browser.get("/")
    browser.post("/logout")
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_oversized_bodies_are_refused_with_413(browser, world, settings):
    browser.login("hosp-a")
    limit = settings.max_upload_bytes
    response = browser.client.post(f"/surveys/{world.survey_id}/s/governance",
                                   content=b"q1_1=" + b"x" * (limit + 1),
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "DH-X302"


def test_security_headers(browser, world):
    page = browser.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in page.headers  # only behind HTTPS (secure_cookies)


def test_a_retried_save_never_overwrites_a_newer_one(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    url = f"/surveys/{world.survey_id}/s/governance"
    first = {"HX-Request": "true", "Idempotency-Key": "save-0001-aaaa"}
    browser.post(url, {"_shown": ["q2_1"], "q2_1": "yes"}, headers=first)
    browser.post(url, {"_shown": ["q2_1"], "q2_1": "no"}, headers={"HX-Request": "true",
                                                                    "Idempotency-Key": "save-0002-bbbb"})
    replay = browser.post(url, {"_shown": ["q2_1"], "q2_1": "yes"}, headers=first)  # the first one, late
    assert replay.status_code == 200
    assert _stored(session_factory, world.hospital_a).answers == {"q2_1": "no"}


def test_method_not_allowed_names_the_allowed_methods(browser, world):
    response = browser.client.delete("/login")
    assert response.status_code == 405 and "GET" in response.headers["allow"]
