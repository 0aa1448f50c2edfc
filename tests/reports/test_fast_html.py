"""The report HTML parsed by expat: the same tree as WeasyPrint's HTML5 parser, the same pages, or no shortcut."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from xml.etree import ElementTree  # nosec B405 - trees of this project's own templates

import pytest
import tinyhtml5
from report_world import make_report_world
from sqlalchemy.orm import Session
from test_lean_ua import _same_pages
from test_report_pdf import NOW

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import national_report
from datahealth.reports import fast_html
from datahealth.reports.html import renderer
from datahealth.reports.lean_ua import lean_html_class
from datahealth.reports.pdf import _resources, html_document
from datahealth.survey.tables import Survey


def _nodes(element: ElementTree.Element, depth: int = 0) -> list[tuple[Any, ...]]:
    """Every element in document order with its depth, tag, attributes, text and tail."""
    rows: list[tuple[Any, ...]] = [(depth, element.tag, sorted(element.attrib.items()), element.text, element.tail)]
    for child in element:
        rows.extend(_nodes(child, depth + 1))
    return rows


def _html5(html: str) -> ElementTree.Element:
    return tinyhtml5.parse(html, namespace_html_elements=False)  # type: ignore[no-any-return]


def _documents(db: Session) -> list[tuple[str, str]]:
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    previous = load_previous(db, survey, data.scoring)
    context = PeerContext(data, previous, NOW)
    html = renderer("ja")
    documents = []
    for number, hospital in enumerate(world.hospitals[:6]):
        report = feedback_report(context, hospital)
        assert report is not None
        documents.append((f"feedback {number}", html.feedback(report)))
        if number == 0:
            documents.append(("appendix", html.feedback_appendix(report)))
    documents.append(("national", html.national(national_report(data, "internal", NOW, previous))))
    documents.append(("feedback en", renderer("en").feedback(report)))
    return documents


def test_report_pages_parse_to_the_html5_tree(db: Session) -> None:
    parsed = 0
    for name, html in _documents(db):
        tree = fast_html.parse(html)
        if name.startswith("feedback") or name == "appendix":
            assert tree is not None, f"{name}: the feedback PDF's pages take the fast path"
        if tree is not None:
            parsed += 1
            assert _nodes(tree) == _nodes(_html5(html)), name
    assert parsed >= 8


@pytest.mark.parametrize(
    "html",
    [
        "<!doctype html><html><head></head><body><p>a<div>b</div></p></body></html>",  # <div> closes the <p>
        "<!doctype html><html><head></head><body><table><tr><td>1</td></tr></table></body></html>",  # tbody added
        "<!doctype html><html><head></head><body><table><tbody>x<tr><td>1</td></tr></tbody></table></body></html>",
        "<!doctype html><html><head></head><body><table><col></table></body></html>",  # colgroup added
        "<!doctype html><html><head></head><body><p>a&nbsp;b</p></body></html>",  # an HTML-only entity
        "<!doctype html><html><head></head><body><!-- note --><p>a</p></body></html>",
        "<!doctype html><html><head></head><body><svg><rect/></svg></body></html>",
        "<!doctype html><html><head><div>x</div></head><body></body></html>",  # moved into the body
        '<!doctype html><html><head></head><body><p title="a\nb">a</p></body></html>',  # XML: "a b"
        "<!doctype html><html><head></head><body><pre>\nx</pre></body></html>",
        "<!doctype html><html><head></head><body><li>a<li>b</body></html>",  # not well-formed
        "<html><head></head><body></body></html>",  # no doctype
        "<!doctype html><html><head></head><body><P>a</P></body></html>",
    ],
)
def test_markup_an_html5_parser_rearranges_is_left_to_it(html: str) -> None:
    assert fast_html.parse(html) is None


@pytest.mark.parametrize(
    "html",
    [
        '<!doctype html>\n<html lang="ja">\n<head><meta charset="utf-8"><title>t &amp; u</title></head>\n'
        '<body class="pdf">\n<p>a<br>b &lt;c&gt; &#39;d&#39;</p>\n<img src="x.png" alt=""/>\n</body>\n</html>\n',
        "<!doctype html><html><head></head><body></body>\n</html>  ",
        "<!doctype html><html><head></head>\n<body><table><colgroup><col><col></colgroup><thead><tr><th>a</th>"
        "</tr></thead><tbody>\n<tr><td>1</td></tr>\n</tbody></table></body></html>",
    ],
)
def test_whitespace_and_void_elements_come_out_as_html5_puts_them(html: str) -> None:
    tree = fast_html.parse(html)
    assert tree is not None
    assert _nodes(tree) == _nodes(_html5(html))


def test_the_document_is_set_up_as_weasyprint_sets_it_up() -> None:
    html = "<!doctype html><html><head></head><body><p>a</p></body></html>"
    fast = html_document(html)
    usual = lean_html_class()(string=html, base_url=None)
    assert type(fast) is type(usual)
    assert set(vars(fast)) == set(vars(usual))
    assert (fast.base_url, fast.media_type) == (usual.base_url, usual.media_type)
    assert type(fast.url_fetcher) is type(usual.url_fetcher)
    assert _nodes(fast.etree_element) == _nodes(usual.etree_element)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (scripts/test.sh installs it)")
def test_feedback_pages_are_pixel_identical(db: Session, tmp_path: Path) -> None:
    font_config, sheets = _resources("")
    for name, html in _documents(db)[:3]:
        usual = lean_html_class()(string=html, base_url=None).render(stylesheets=sheets, font_config=font_config)
        fast = html_document(html).render(stylesheets=sheets, font_config=font_config)
        _same_pages(usual.write_pdf(), fast.write_pdf(), tmp_path / name.replace(" ", "-"))
