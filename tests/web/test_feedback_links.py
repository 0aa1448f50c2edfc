"""The hospital home page links to the feedback report once submitted; report pages load their CSS in <head>."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from test_reports import world_with_draft

from web_client import Browser


def test_home_links_to_feedback_page_and_pdf_after_submission(
    browser: Browser, session_factory: sessionmaker[Session]
) -> None:
    world = world_with_draft(session_factory)
    browser.login("hosp-a")
    page_link = f'href="/surveys/{world.survey_id}/feedback"'
    pdf_link = f'href="/surveys/{world.survey_id}/feedback.pdf"'
    before = browser.get("/").text
    assert page_link not in before and pdf_link not in before  # a draft has no feedback yet
    browser.get(f"/surveys/{world.survey_id}/review")
    assert browser.post(f"/surveys/{world.survey_id}/submit", follow_redirects=False).status_code == 303
    home = browser.get("/").text
    assert page_link in home and pdf_link in home
    assert "フィードバック（評価と改善の優先順位）を見る" in home
    pdf = browser.get(f"/surveys/{world.survey_id}/feedback.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_report_stylesheet_is_linked_from_the_head(browser: Browser, session_factory: sessionmaker[Session]) -> None:
    world = world_with_draft(session_factory)
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/review")
    browser.post(f"/surveys/{world.survey_id}/submit", follow_redirects=False)
    html = browser.get(f"/surveys/{world.survey_id}/feedback").text
    head, body = html.split("</head>", 1)
    assert '<link rel="stylesheet" href="/static/reports.css">' in head
    assert "reports.css" not in body
    assert ' style="' not in html and "<style" not in html  # CSP stays without unsafe-inline
