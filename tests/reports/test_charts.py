"""Charts are well-formed, accessible SVG without style attributes (CSP)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from datahealth.reports import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 - our own generated SVG, not untrusted input


def check_accessible(root: ET.Element) -> None:
    assert root.get("role") == "img"
    labelled = (root.get("aria-labelledby") or "").split()
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    assert len(labelled) == 2 and set(labelled) <= ids
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert all(el.get("style") is None for el in root.iter())


def test_bar_chart() -> None:
    bars = [charts.Bar("20～99床", 44.0), charts.Bar("100～199床", 47.5, highlight=True), charts.Bar("500床以上", None)]
    root = parse(charts.bar_chart(bars, "オフラインバックアップ", "20～99床: 44%"))
    check_accessible(root)
    texts = [el.text for el in root.iter(f"{SVG}text")]
    assert "44%" in texts and "48%" in texts and "—" in texts  # hidden is "—", never 0
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 2
    assert rects[1].get("fill") == charts.HIGHLIGHT


def test_tile_map_has_47_tiles_in_distinct_places() -> None:
    assert len(charts.TILES) == 47 and len(set(charts.TILES)) == 47
    values = [float(i) for i in range(47)]
    values[30] = None  # type: ignore[call-overload]
    root = parse(charts.tile_map(values, "回答率", "北海道: 0%", [f"県{i}" for i in range(47)], highlight=13, high=46))
    check_accessible(root)
    tiles = [el for el in root.iter(f"{SVG}rect") if el.get("width") == "32"]
    assert len(tiles) == 47
    assert (tiles[30].get("fill") or "").startswith("url(#hatch-")
    assert tiles[12].get("stroke-width") == "2.5"  # Tokyo highlighted


def test_radar_and_histogram() -> None:
    radar = parse(
        charts.radar(
            ["管理体制", "BCP", "資産", "脆弱性", "認証", "契約", "バックアップ"],
            [charts.Series("貴院", [40, 0, 100, 33, 33, 100, None], charts.HIGHLIGHT)],
            "領域別",
            "管理体制: 40%",
        )
    )
    check_accessible(radar)
    assert len(list(radar.iter(f"{SVG}polygon"))) == 5  # 4 rings + 1 series
    histogram = parse(charts.histogram(["8", "13"], [52.0, None], [charts.FAIR, charts.GOOD], "桁数", "8: 52%"))
    check_accessible(histogram)


def test_text_is_escaped() -> None:
    root = parse(charts.bar_chart([charts.Bar("<script>&", 10.0)], "a<b", "c&d"))
    assert root.find(f"{SVG}title").text == "a<b"  # type: ignore[union-attr]


def test_short_prefecture_names() -> None:
    from datahealth.reports.html import short_prefecture

    assert [short_prefecture(n) for n in ("北海道", "東京都", "京都府", "大阪府", "神奈川県", "Kyoto")] == [
        "北海道",
        "東京",
        "京都",
        "大阪",
        "神奈川",
        "Kyoto",
    ]


def embedded_svg(root: ET.Element) -> ET.Element:
    """The text-free chart that ``text_as_html`` embeds as a ``data:`` image (the shapes stay out of the HTML)."""
    images = root.findall("img")
    assert len(images) == 1 and not root.findall(f"{SVG}svg")
    prefix = "data:image/svg+xml;base64,"
    source = images[0].get("src") or ""
    assert source.startswith(prefix)
    svg = parse(base64.b64decode(source.removeprefix(prefix)).decode("utf-8"))
    assert svg.tag == f"{SVG}svg" and images[0].get("width") == svg.get("width")
    return svg


def test_text_as_html_moves_every_label_out_of_the_svg() -> None:
    bars = [charts.Bar("R&D <病院>", 44.0), charts.Bar("100～199床", 47.5, highlight=True), charts.Bar("500床", None)]
    chart = charts.bar_chart(bars, "オフラインバックアップ", "desc", width=400, caption=True)
    labels = [el.text for el in parse(chart).iter(f"{SVG}text")]
    html = str(charts.text_as_html(chart))
    root = ET.fromstring(html)  # noqa: S314 - our own markup
    svg = embedded_svg(root)
    assert not list(svg.iter(f"{SVG}text"))  # no per-letter SVG text left
    check_accessible(svg)
    spans = root.findall("span")
    assert [span.text for span in spans] == labels  # every label, in order, still escaped in the markup
    assert "R&amp;D &lt;病院&gt;" in html
    assert all(span.get("class") == "chart-label" for span in spans)  # position:absolute in reports-pdf.css
    bold = [span.text for span in spans if "font-weight:bold" in (span.get("style") or "")]
    assert bold == ["オフラインバックアップ", "100～199床", "48%"]  # the caption and the highlighted bar
    assert "width:400.00px" in (root.get("style") or "")
    # every label box has its width (no shrink-to-fit measuring in WeasyPrint); an end-anchored label's
    # box ends at its anchor, so the text stays where the SVG would have drawn it
    for span, found in zip(spans, parse(chart).iter(f"{SVG}text"), strict=True):
        style = dict(part.split(":", 1) for part in (span.get("style") or "").split(";"))
        assert style["width"].endswith("px")
        if found.get("text-anchor") == "end":
            right = float(style["left"].removesuffix("px")) + float(style["width"].removesuffix("px"))
            assert right == pytest.approx(float(found.get("x") or 0), abs=0.01)


def test_text_as_html_scales_a_wide_chart_down() -> None:
    chart = charts.radar(["A", "B", "C"], [charts.Series("x", [50, 60, 70], charts.HIGHLIGHT)], "t", "d")
    root = ET.fromstring(str(charts.text_as_html(chart, max_width=220)))  # noqa: S314 - our own markup
    svg = embedded_svg(root)
    assert svg.get("width") == "220.00"
    assert svg.get("viewBox") == "0 0 440 324" and svg.get("height") == "162.00"  # same coordinates, scaled
    assert "font-size:5.00px" in (root.findall("span")[0].get("style") or "")  # 10 px labels at half size
