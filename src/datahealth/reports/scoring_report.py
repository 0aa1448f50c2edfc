"""健康スコアリングレポート: one HTML page and PDF per insurer, and the batch over all 健保組合.

The numbers come from ``analytics.linked.insurer_scoring``; this module only lays them out. Values over
fewer than 50 people are "×"; the PDF is made by ``reports.pdf.html_to_pdf`` (Japanese font embedded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from datahealth.analytics.linked import insurer_scoring as scoring
from datahealth.analytics.linked.engines import Engine, open_tables
from datahealth.errors import Problem, UserError
from datahealth.reports import charts
from datahealth.reports.html import TEMPLATES
from datahealth.reports.pdf import html_to_pdf


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def _pct(value: float | None) -> str:
    return scoring.HIDDEN if value is None else f"{100 * value:.1f}%"


def _yen(value: float | None) -> str:
    return scoring.HIDDEN if value is None else f"{value:,.0f}"


def _stars(grade: int | None) -> str:
    return scoring.HIDDEN if grade is None else "★" * grade + "☆" * (5 - grade)


def _fy(year: int) -> str:
    return f"{year}年度"


def render_html(report: scoring.InsurerReport) -> str:
    groups: dict[str, list[scoring.MetricRow]] = {}
    for row in report.rows:
        groups.setdefault(row.metric.group, []).append(row)
    by_key = {(c.band, c.sex): c for c in report.costs}
    cost_rows = [(band, by_key[(band, 1)], by_key[(band, 2)]) for band, _lo, _hi in scoring.AGE_BANDS]
    risks = [r for r in report.rows if r.metric.group.startswith("健康状況")]
    bars = []
    for row in risks:
        bars.append(charts.Bar(row.metric.label, None if row.values[-1] is None else 100 * row.values[-1], True))
        average = row.all_average
        bars.append(charts.Bar("　全平均", None if average is None else 100 * average))
    chart = charts.bar_chart(
        bars, "リスク保有者の割合（当組合と全平均）", "Share at risk, this insurer and the all-insurer average",
        width=520, label_width=140, caption=True,
    )  # fmt: skip
    return (
        _environment()
        .get_template("reports/scoring.html")
        .render(
            r=report,
            groups=list(groups.items()),
            cost_rows=cost_rows,
            chart=chart,
            pct=_pct,
            yen=_yen,
            stars=_stars,
            fy_label=_fy,
            min_group=scoring.MIN_GROUP,
        )
    )


@dataclass(frozen=True)
class BatchResult:
    written: tuple[Path, ...]
    insurers: int


def load(data_dir: Path, engine: Engine = "duckdb") -> scoring.ScoringData:
    linked = data_dir / "linked" if (data_dir / "linked").is_dir() else data_dir
    insurers_path = data_dir / "insurers.parquet"
    if not insurers_path.exists():
        raise UserError(Problem("DH-L104", {"field": str(insurers_path)}))
    insurers = pd.read_parquet(insurers_path)
    return scoring.compute(open_tables(linked, engine), insurers)


def write_reports(
    data: scoring.ScoringData,
    out: Path,
    insurers: list[str] | None = None,
    *,
    pdf: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """HTML (and PDF) for the given insurers, or for every 健保組合 when ``insurers`` is None."""
    known = set(data.insurers.insurer_no)
    if insurers is None:
        insurers = data.insurers[data.insurers.insurer_type == "健保組合"].insurer_no.tolist()
    for number in insurers:
        if number not in known:
            raise UserError(Problem("DH-L106", {"value": number}))
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for done, number in enumerate(insurers, start=1):
        html = render_html(scoring.report_for(data, number))
        path = out / f"scoring_{number}.html"
        path.write_text(html, encoding="utf-8")
        written.append(path)
        if pdf:
            pdf_path = out / f"scoring_{number}.pdf"
            pdf_path.write_bytes(html_to_pdf(html))
            written.append(pdf_path)
        if progress is not None:
            progress(done, len(insurers))
    return BatchResult(tuple(written), len(insurers))
