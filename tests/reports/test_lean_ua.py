"""The report PDFs' lean user-agent stylesheet: fewer selectors for WeasyPrint to try, the same pages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import ImageChops
from report_world import make_report_world
from sqlalchemy.orm import Session
from test_report_pdf import NOW, pages

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import national_report
from datahealth.reports.html import renderer
from datahealth.reports.lean_ua import lean_html_class, lean_ua_css
from datahealth.reports.pdf import _resources
from datahealth.survey.tables import Survey

UA_SAMPLE = """
[hidden], head, input[type=hidden i], script { display: none }
address, div, p, xmp { display: block }
td, th { padding: 1px }
[dir=rtl i] :is(dir, menu, ol, ul) { padding-left: 0 }
:is(dir, menu, ol, ul) ul { list-style-type: circle }
input, select { border: 1px solid black }
br::before { content: "\\A"; white-space: pre-line }
table > tr { vertical-align: middle }
@page { margin: 75px }
"""


def test_only_selectors_report_elements_can_match_are_kept() -> None:
    lean = " ".join(lean_ua_css(UA_SAMPLE).split())
    assert "head, script { display: none }" in lean
    assert "div, p { display: block }" in lean
    assert "td, th { padding: 1px }" in lean
    assert "table > tr { vertical-align: middle }" in lean
    assert 'br::before { content: "\\A "; white-space: pre-line }' in lean  # "\A " is the escape "\A"
    assert "@page { margin: 75px }" in lean
    for dropped in ("[hidden]", "input", "select", "[dir", ":is(", "xmp", "address", "circle"):
        assert dropped not in lean


def _both_ways(html: str) -> tuple[bytes, bytes]:
    from weasyprint import HTML

    font_config, sheets = _resources("")
    standard = HTML(string=html).render(stylesheets=sheets, font_config=font_config).write_pdf()
    lean = lean_html_class()(string=html).render(stylesheets=sheets, font_config=font_config).write_pdf()
    return standard, lean


def _same_pages(standard: bytes, lean: bytes, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir(parents=True)
    (tmp_path / "b").mkdir(parents=True)
    before, after = pages(standard, tmp_path / "a", dpi=72), pages(lean, tmp_path / "b", dpi=72)
    assert len(before) == len(after) >= 1
    for number, (one, other) in enumerate(zip(before, after, strict=True), start=1):
        assert one.size == other.size
        assert ImageChops.difference(one, other).getbbox() is None, f"page {number} differs"


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (scripts/test.sh installs it)")
def test_feedback_and_national_pages_are_pixel_identical(db: Session, tmp_path: Path) -> None:
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    previous = load_previous(db, survey, data.scoring)
    report = feedback_report(PeerContext(data, previous, NOW), world.hospitals[0])
    assert report is not None
    html = renderer("ja")
    for name, document in (
        ("feedback", html.feedback(report)),
        ("appendix", html.feedback_appendix(report)),
        ("national", html.national(national_report(data, "internal", NOW, previous))),
    ):
        standard, lean = _both_ways(document)
        _same_pages(standard, lean, tmp_path / name)
