"""HTML of the reports: one set of templates (``web/templates/reports/``) for the web pages and the PDFs.

The web app renders the page templates through its own environment (with the logged-in person's
language); PDFs and the batch use ``ReportRenderer``, a standalone Jinja2 environment over the same
templates, so what a hospital sees on screen and in its PDF is the same text and the same charts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from datahealth.analytics.aggregates import TableView, groups
from datahealth.analytics.feedback import FeedbackReport
from datahealth.analytics.national import NationalReport
from datahealth.clock import format_jst
from datahealth.institutions import PREFECTURES, founder_type_label, prefecture_name
from datahealth.reports import charts
from datahealth.survey.model import Text
from datahealth.web.i18n import translate

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


PDF_SUMMARY_FIGURE = 400
"""Width in CSS px of the summary's chart figure in the PDF (reports-pdf.css: 300pt)."""


def text_getter(lang: str) -> Callable[[Text | None], str]:
    def tx(text: Text | None) -> str:
        return "" if text is None else text.get(lang)

    return tx


def short_prefecture(name: str) -> str:
    """東京都 → 東京, 京都府 → 京都, 北海道 stays (one suffix character, never more)."""
    return name[:-1] if name != "北海道" and name[-1:] in ("都", "府", "県") else name


def feedback_charts(report: FeedbackReport, lang: str, *, pdf: bool = False) -> dict[str, Any]:
    """The radar (domains), bars by band (critical items) and the prefecture tile grid of one report."""
    tx = text_getter(lang)
    axes = [tx(d.domain.label) for d in report.domains]
    you = [None if d.score.score is None else 100 * d.score.score for d in report.domains]
    series = [
        charts.Series(translate("your_hospital", lang), you, charts.HIGHLIGHT),
        charts.Series(
            f"{translate('band_mean', lang)}（{tx(report.band_label)}）",
            [d.band_mean for d in report.domains],
            charts.FAIR,
        ),
        charts.Series(
            translate("national_mean", lang), [d.national_mean for d in report.domains], charts.MUTED, dashed=True
        ),
    ]
    radar = charts.radar(
        axes,
        series,
        translate("domains_heading", lang),
        "; ".join(f"{a}: {'—' if v is None else f'{v:.0f}%'}" for a, v in zip(axes, you, strict=True)),
    )
    own_band = report.hospital.band
    critical = sorted(
        (item for domain in report.domains for item in domain.items if item.item.critical),
        key=lambda item: item.item.priority,
    )
    band_name = tx(report.band_label)
    rows = [
        charts.Bar(tx(item.item.label), item.peers[1].percent, highlight=item.result.status == "not_met")
        for item in critical
    ]
    critical_chart = charts.bar_chart(
        rows,
        translate("critical_chart", lang, band=band_name),
        "; ".join(f"{b.label}: {'—' if b.value is None else f'{b.value:.0f}%'}" for b in rows),
        width=520,
        label_width=230,
        caption=True,
    )
    bands = []
    for item in critical if not pdf else []:
        bars = [charts.Bar(tx(rate.label), rate.percent, highlight=rate.key == own_band) for rate in item.band_rates]
        desc = "; ".join(f"{b.label}: {'—' if b.value is None else f'{b.value:.0f}%'}" for b in bars)
        bands.append(
            {
                "caption": tx(item.item.label),
                "svg": charts.bar_chart(bars, tx(item.item.label), desc, width=330, label_width=92),
            }
        )
    if pdf:  # the PDF leaves the tile grid to the web page (it is the same for every hospital of a prefecture)
        return {
            "radar": charts.text_as_html(radar, max_width=PDF_SUMMARY_FIGURE),
            "critical": charts.text_as_html(critical_chart),
            "bands": bands,
            "map": None,
        }
    names = [short_prefecture(ja if lang == "ja" else en) for ja, en in PREFECTURES]
    map_desc = "; ".join(
        f"{prefecture_name(code, lang)}: {'—' if v is None else f'{v:.0f}%'}"
        for code, v in enumerate(report.prefecture_medians, start=1)
    )
    tile_map = charts.tile_map(
        report.prefecture_medians,
        translate("prefecture_map", lang),
        map_desc,
        names,
        highlight=report.hospital.prefecture_code,
    )
    return {"radar": radar, "critical": critical_chart, "bands": bands, "map": tile_map}


def heat(percent: float | None) -> str:
    """CSS class of a heat-table cell (0–20–40–60–80–100 %)."""
    if percent is None:
        return ""
    return f"h{min(int(percent // 20), 4)}"


def _prefecture_values(view: TableView, col: int = 0) -> list[float | None]:
    return [row.cells[col].percent for row in view.rows]


def national_context(report: NationalReport, lang: str, *, pdf: bool, question: str | None = None) -> dict[str, Any]:
    """Charts and helpers the national templates need (shared by the dashboard and the PDF)."""
    tx = text_getter(lang)
    names = [short_prefecture(ja if lang == "ja" else en) for ja, en in PREFECTURES]

    def describe(pairs: list[tuple[str, float | None]]) -> str:
        return "; ".join(f"{label}: {'—' if v is None else f'{v:.0f}%'}" for label, v in pairs)

    bars = [charts.Bar(tx(row.label), row.cells[0].percent) for row in report.response_band.rows]
    response_band = charts.bar_chart(
        bars, translate("response_rate", lang), describe([(b.label, b.value) for b in bars]), caption=True
    )
    rates = _prefecture_values(report.response_prefecture)
    response_map = charts.tile_map(
        rates, tx(report.response_prefecture.title), describe(list(zip(names, rates, strict=True))), names
    )
    band_labels = groups("band")
    domain_axes = [tx(d.label) for d in report.scoring.domains]

    def means(stats_means: dict[str, float | None]) -> list[float | None]:
        return [None if stats_means[d.key] is None else 100 * (stats_means[d.key] or 0) for d in report.scoring.domains]

    series = [charts.Series(translate("all_hospitals", lang), means(report.national.domain_means), charts.HIGHLIGHT)]
    for (key, label), colour in ((band_labels[0], charts.FAIR), (band_labels[-1], charts.GOOD)):
        series.append(charts.Series(tx(label), means(report.band_stats[key].domain_means), colour, dashed=True))
    radar = charts.radar(
        domain_axes,
        series,
        translate("domain_scores_by_band", lang),
        describe(list(zip(domain_axes, series[0].values, strict=True))),
    )
    item_maps: list[dict[str, Any]] = []
    for item_tables in report.items:
        if item_tables.item.key not in ("offline_backup", "bcp", "two_factor") and not item_tables.item.critical:
            continue
        if len(item_maps) >= (2 if pdf else 4):
            break
        values = _prefecture_values(item_tables.tables["prefecture"])
        title = tx(item_tables.item.label)
        svg = charts.tile_map(
            values, title, describe(list(zip(names, values, strict=True))), names, tile=30 if pdf else 34
        )
        item_maps.append({"caption": title, "svg": svg, "table": item_tables.tables["prefecture"]})
    histograms = []
    for view in report.distributions:
        labels = [tx(label) for _key, label in view.cols]
        shares = [cell.percent for cell in view.totals.cells]
        colours = [charts.POOR if i < 3 else charts.FAIR if i < 6 else charts.GOOD for i in range(len(labels))]
        histograms.append(
            charts.histogram(labels, shares, colours, tx(view.title), describe(list(zip(labels, shares, strict=True))))
        )
    chosen = question or (report.answers[0].question.name if report.answers else None)
    answer_map = None
    if not pdf:
        for answers in report.answers:
            if answers.question.name == chosen:
                values = _prefecture_values(answers.tables["prefecture"])
                first = tx(answers.tables["prefecture"].cols[0][1])
                answer_map = charts.tile_map(
                    values,
                    f"{tx(answers.tables['band'].title)}：{first}",
                    describe(list(zip(names, values, strict=True))),
                    names,
                )
    return {
        "charts": {
            "response_band": response_band,
            "response_map": response_map,
            "radar": radar,
            "item_maps": item_maps,
            "histograms": histograms,
            "answer_map": answer_map,
        },
        "bands": band_labels,
        "founders": groups("founder"),
        "heat": heat,
        "question": chosen,
        "followup_limit": 200 if pdf else 100,
        "pdf": pdf,
    }


@dataclass
class ReportRenderer:
    """Renders report templates outside a web request (PDF, batch)."""

    lang: str = "ja"

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            format_jst=format_jst,
            prefecture_name=prefecture_name,
            founder_type_label=founder_type_label,
            lang=self.lang,
            t=lambda key, **params: translate(key, self.lang, **params),
            tx=text_getter(self.lang),
        )

    def feedback(self, report: FeedbackReport) -> str:
        template = self.env.get_template("reports/feedback_pdf.html")
        return template.render(r=report, charts=feedback_charts(report, self.lang, pdf=True), pdf=True)

    def feedback_appendix(self, report: FeedbackReport) -> str:
        """The constant part of every feedback PDF of a survey: items, criteria and references."""
        template = self.env.get_template("reports/feedback_appendix_pdf.html")
        return template.render(
            references=report.references, documents=report.documents, checklist_note=report.checklist_note
        )

    def national(self, report: NationalReport) -> str:
        template = self.env.get_template("reports/national_pdf.html")
        return template.render(n=report, **national_context(report, self.lang, pdf=True))


@lru_cache(maxsize=4)
def renderer(lang: str) -> ReportRenderer:
    """One renderer (compiled templates) per language and process."""
    return ReportRenderer(lang)


def css(*names: str) -> list[str]:
    return [(STATIC / name).read_text(encoding="utf-8") for name in names]
