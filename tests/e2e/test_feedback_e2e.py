"""Feedback in real headless Chromium: a hospital submits, reads its feedback at once, downloads the PDF.

Hospital A (``hosp-a``) has a complete draft of the FY2024 survey; 23 other hospitals have submitted
(the report world of tests/analytics). It submits from the review page, follows the receipt's link to
its feedback, finds its domain scores and the prioritised actions, and downloads the PDF, which must
be a PDF whose text is Japanese and whose first page is drawn (not blank).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, expect
from sqlalchemy import insert

import factories as f
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.survey.tables import Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))  # report_world, shared with analytics
from report_world import ReportWorld, make_report_world  # noqa: E402
from test_survey_cycle import login  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (scripts/test.sh installs it)"),
]


@pytest.fixture
def report_world(settings: Settings) -> ReportWorld:
    engine = make_engine(settings)
    with make_session_factory(engine).begin() as db:
        world = make_report_world(db, submit_first=False)
        db.execute(
            insert(Response),
            [{"survey_id": world.survey_id, "organisation_id": world.hospitals[0], "answers": f.complete_answers()}],
        )
    engine.dispose()
    return world


def test_hospital_submits_reads_feedback_and_downloads_pdf(
    chromium: Browser, live_server: object, report_world: ReportWorld, tmp_path: Path
) -> None:
    base = live_server.url  # type: ignore[attr-defined]
    context = chromium.new_context(accept_downloads=True, locale="ja-JP")
    page = context.new_page()
    try:
        login(page, base, "hosp-a")
        page.goto(f"{base}/surveys/{report_world.survey_id}/review")
        page.get_by_role("button", name="この内容で提出する").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("受付票")

        page.locator("#feedback-link").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("サイバーセキュリティ対策 フィードバック")
        expect(page.get_by_role("heading", level=1)).to_contain_text("テスト病院00")
        expect(page.locator("body")).to_contain_text("16 項目を達成")  # complete_answers: 16 of 20
        summary = page.locator("section", has=page.locator("#fb-summary"))
        expect(summary.get_by_role("img").first).to_be_visible()  # the radar chart
        for domain in ("管理体制", "インシデント対応・BCP", "バックアップ・復旧"):
            expect(summary.locator("table", has_text=domain)).to_be_visible()
        actions = page.locator("section", has=page.locator("#fb-actions"))
        expect(actions.get_by_role("heading", level=2)).to_have_text("優先して取り組むこと")
        expect(actions.locator("ol.action-list > li").first).to_be_visible()

        # the home page links to the same report
        page.goto(f"{base}/")
        own = f'a.feedback-link[href="/surveys/{report_world.survey_id}/feedback"]'
        expect(page.locator(own)).to_have_count(1)  # this year's survey (and the previous year's, also submitted)
        page.locator(own).click()
        with page.expect_download() as download_info:
            page.get_by_role("link", name="PDF をダウンロード").first.click()
        download = download_info.value
        assert download.suggested_filename.endswith(".pdf")
        target = tmp_path / "feedback.pdf"
        download.save_as(target)
    finally:
        context.close()

    content = target.read_bytes()
    assert content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
    assert "サイバーセキュリティ対策 フィードバック" in text and "テスト病院00" in text
    assert "優先して取り組むこと" in text and "管理体制" in text
    first_page = ["pdftoppm", "-r", "40", "-gray", "-png", "-f", "1", "-l", "1", str(target), str(tmp_path / "p")]
    subprocess.run(first_page, check=True)  # noqa: S603 - fixed arguments
    first = Image.open(next(tmp_path.glob("p-*.png"))).convert("L")
    dark = sum(first.histogram()[:128]) / (first.width * first.height)
    assert dark > 0.01, "the first page is blank"
