"""A feedback PDF is its own pages plus the survey's shared appendix, appended at the PDF level (qpdf).

The result must read exactly like the PDF WeasyPrint made when both parts were one document: same
pages, same text on every page, bookmarks into both parts, every font embedded, no blank page.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from report_world import make_report_world
from sqlalchemy.orm import Session
from test_report_pdf import NOW, fonts, ink, pages

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import FeedbackReport, PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.reports import pdf as pdf_module
from datahealth.reports.html import renderer
from datahealth.reports.pdf import _resources, html_to_pdf
from datahealth.survey.tables import Survey

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (scripts/test.sh installs it)"
)


def page_texts(pdf: bytes, tmp_path: Path, name: str, *, layout: bool = True) -> list[str]:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    count = len(pikepdf.open(source).pages)
    return [
        subprocess.run(  # noqa: S603 - fixed arguments
            ["pdftotext", *(["-layout"] if layout else []), "-f", str(n), "-l", str(n), str(source), "-"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in range(1, count + 1)
    ]


def one_document(html: str, appendix: str) -> bytes:
    """The PDF as WeasyPrint makes it from both parts' pages in one document (the reference)."""
    from weasyprint import HTML

    font_config, sheets = _resources("")
    main = HTML(string=html).render(stylesheets=sheets, font_config=font_config)
    tail = HTML(string=appendix).render(stylesheets=sheets, font_config=font_config)
    pdf: bytes = main.copy([*main.pages, *tail.pages]).write_pdf()
    return pdf


def outline_titles(pdf: bytes, tmp_path: Path) -> list[tuple[str, int]]:
    """(title, page number) of every bookmark, depth first."""
    source = tmp_path / "outline.pdf"
    source.write_bytes(pdf)
    document = pikepdf.open(source)
    found: list[tuple[str, int]] = []

    def walk(items: list[pikepdf.OutlineItem]) -> None:
        for item in items:
            destination = item.destination
            assert isinstance(destination, pikepdf.Array)
            found.append((item.title, document.pages.index(pikepdf.Page(destination[0])) + 1))
            walk(item.children)

    with document.open_outline() as outline:
        walk(outline.root)
    return found


@pytest.fixture
def report(db: Session) -> FeedbackReport:
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    found = feedback_report(PeerContext(data, load_previous(db, survey, data.scoring), NOW), world.hospitals[0])
    assert found is not None
    return found


def test_appended_appendix_reads_like_one_document(report: FeedbackReport, tmp_path: Path) -> None:
    pages_html = renderer("ja")
    html, appendix = pages_html.feedback(report), pages_html.feedback_appendix(report)
    merged = html_to_pdf(html, appendix=appendix)
    reference = one_document(html, appendix)
    main_only = html_to_pdf(html)

    merged_text, reference_text = page_texts(merged, tmp_path, "merged"), page_texts(reference, tmp_path, "one")
    main_pages = len(page_texts(main_only, tmp_path, "main"))
    assert len(merged_text) == len(reference_text) > main_pages >= 2
    assert merged_text == reference_text  # page by page, the page numbers at the foot included
    assert report.hospital.name in merged_text[0]
    assert "付録：評価項目と根拠" in merged_text[main_pages]
    assert all("付録" in text for text in merged_text[main_pages:])

    titles = outline_titles(merged, tmp_path)
    assert titles == outline_titles(reference, tmp_path)  # the appendix's bookmark points into the appended pages
    assert ("付録：評価項目と根拠", main_pages + 1) in titles

    listing = fonts(merged, tmp_path)
    for line in listing.splitlines()[2:]:
        assert " yes " in line, f"font not embedded: {line}"
    for image in pages(merged, tmp_path):
        assert ink(image) > 0.002, "blank page"


def test_appendix_is_made_once_per_process(report: FeedbackReport, tmp_path: Path) -> None:
    pages_html = renderer("ja")
    html, appendix = pages_html.feedback(report), pages_html.feedback_appendix(report)
    pdf_module._APPENDICES.clear()
    first = html_to_pdf(html, appendix=appendix)
    kept = dict(pdf_module._APPENDICES)
    second = html_to_pdf(html, appendix=appendix)
    assert len(kept) == 1 and pdf_module._APPENDICES == kept  # the second PDF reused the first's appendix
    assert page_texts(first, tmp_path, "first") == page_texts(second, tmp_path, "second")


def test_every_item_is_listed_with_its_result_and_answer(report: FeedbackReport, tmp_path: Path) -> None:
    """The denser per-item table (one row per item) still gives each item's result and the hospital's answer."""
    pages_html = renderer("ja")
    pdf = html_to_pdf(pages_html.feedback(report), appendix=pages_html.feedback_appendix(report))
    texts = page_texts(pdf, tmp_path, "items", layout=False)  # reading order: a wrapped cell stays together
    flat = "".join("".join(text.split()) for text in texts)  # labels may wrap inside their cell
    results = {"met": "達成", "not_met": "未達", "not_applicable": "対象外", "unanswered": "未回答"}
    items = [item for domain in report.domains for item in domain.items]
    assert len(items) == 20
    for item in items:
        label = "".join(item.item.label.get("ja").split())
        assert label in flat, label
        assert flat.count(label) >= 2  # in the per-item table and in the appendix with its criterion
        for answer in item.answers:
            assert answer.code in flat
    for status, word in results.items():
        assert flat.count(word) >= sum(item.result.status == status for item in items), word
    assert flat.count("貴院の回答：") == len(items)
    assert "テスト病院01" not in flat and report.hospital.name in flat  # only its own hospital is named


def test_font_subsetting_arrays_are_made_without_a_new_type_per_size() -> None:
    """WeasyPrint's glyph-list arrays come out the same through ``_OpenArrays``, and no ``T[N]`` type is parsed."""
    from weasyprint.pdf import fonts as weasy_fonts

    _resources("")  # installs the view
    ffi = weasy_fonts.ffi
    assert isinstance(ffi, pdf_module._OpenArrays)
    glyphs = list(range(3, 1234, 7))
    array = ffi.new(f"hb_codepoint_t[{len(glyphs)}]", glyphs)
    assert list(array) == glyphs and ffi.sizeof(array) == ffi.sizeof("hb_codepoint_t") * len(glyphs)
    assert f"hb_codepoint_t[{len(glyphs)}]" not in ffi._parsed_types  # noqa: SLF001 - cffi's parse cache
    assert list(ffi.new("hb_codepoint_t[4]", [1, 2])) == [1, 2, 0, 0]  # another length: left to cffi as written


def test_threads_share_the_appendix_safely(report: FeedbackReport, tmp_path: Path) -> None:
    """The web app renders PDFs in worker threads: each gets a whole, readable PDF with the appendix."""
    from concurrent.futures import ThreadPoolExecutor

    pages_html = renderer("ja")
    html, appendix = pages_html.feedback(report), pages_html.feedback_appendix(report)
    with ThreadPoolExecutor(max_workers=3) as pool:
        made = list(pool.map(lambda _n: html_to_pdf(html, appendix=appendix), range(3)))
    texts = [page_texts(pdf, tmp_path, f"thread-{n}") for n, pdf in enumerate(made)]
    assert texts[0] == texts[1] == texts[2] and any("付録" in text for text in texts[0])
