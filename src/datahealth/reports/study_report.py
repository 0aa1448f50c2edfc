"""The study report (HTML and PDF): result tables in seed 004's layout and charts, Japanese first.

``context`` turns ``StudyResults`` into plain rows for the template
``web/templates/reports/study/study.html``; ``render_html`` renders it (with the report stylesheets
inlined, so the HTML file stands alone) and ``render_pdf`` lays it out with WeasyPrint (``pdf.html_to_pdf``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl
from scipy import stats

from datahealth.analytics.study.effect import ALL, MIXED_MAX_PARTICIPANTS, Estimate, mixed_skipped
from datahealth.analytics.study.model import StudyDefinition
from datahealth.analytics.study.outcomes import BASELINE
from datahealth.analytics.study.registry import UNCLASSIFIED
from datahealth.analytics.study.service import StudyResults
from datahealth.reports import study_charts as charts
from datahealth.reports.html import css, renderer
from datahealth.reports.pdf import html_to_pdf

TEMPLATE = "reports/study/study.html"
METHOD_LABELS = {
    "ancova": ("共分散分析（ANCOVA）", "ANCOVA, HC3"),
    "did": ("差の差（DiD）", "Difference-in-differences, cluster-robust"),
    "mixed": ("混合効果モデル", "Mixed model, random intercept"),
}


def change_text(value: float | None) -> str:
    """Seed 004 writes a decrease as ▲0.56."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"▲{abs(value):.2f}" if value < 0 else f"+{value:.2f}"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):.{digits}f}"


def _labels(definition: StudyDefinition) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    strata = {g.code: (g.label_ja, g.label_en) for g in definition.strata.groups}
    strata[ALL] = ("全体（層で調整）", "All (adjusted for stratum)")
    strata[UNCLASSIFIED] = ("層の分類なし", "Not in any stratum")
    arms = {a.code: (a.label_ja, a.label_en) for a in definition.arms}
    return strata, arms


def _seed_table(results: StudyResults) -> list[dict[str, Any]]:
    """Per stratum and arm at the primary follow-up: baseline → follow-up, ▲change (95 % CI), n, missing."""
    definition = results.study.definition
    strata, arms = _labels(definition)
    rows = []
    table = results.summary.filter(pl.col("follow_up") == definition.primary.code)
    for row in table.iter_rows(named=True):
        rows.append(
            {
                "stratum": strata.get(row["stratum"], (row["stratum"], row["stratum"])),
                "arm": arms.get(row["arm"], (row["arm"], row["arm"])),
                "baseline": _num(row["baseline_mean"]),
                "follow_up": _num(row["follow_up_mean"]),
                "change": change_text(row["change_mean"]),
                "ci": f"{_num(row['change_low'])} 〜 {_num(row['change_high'])}",
                "allocated": row["allocated"],
                "complete": row["complete"],
                "missing": row["missing_follow_up"],
                "missing_baseline": row["allocated"] - row["with_baseline"],
            }
        )
    return rows


def _estimate_rows(results: StudyResults) -> list[dict[str, Any]]:
    definition = results.study.definition
    strata, arms = _labels(definition)
    follow = {f.code: (f.label_ja, f.label_en) for f in definition.follow_ups}
    order = {"ancova": 0, "did": 1, "mixed": 2}
    strata_order = {g.code: i for i, g in enumerate(definition.strata.groups)} | {ALL: 99}
    estimates: list[Estimate] = sorted(
        results.estimates,
        key=lambda e: (
            strata_order.get(e.stratum, 50),
            e.follow_up != definition.primary.code,
            e.follow_up,
            order.get(e.method, 9),
        ),
    )
    return [
        {
            "stratum": strata.get(e.stratum, (e.stratum, e.stratum)),
            "follow_up": follow.get(e.follow_up, (e.follow_up, e.follow_up)),
            "arm": arms.get(e.arm, (e.arm, e.arm)),
            "method": METHOD_LABELS[e.method],
            "estimate": _num(e.estimate),
            "ci": f"{_num(e.low)} 〜 {_num(e.high)}",
            "p": "<0.001" if e.p < 0.001 else _num(e.p, 3),
            "n": e.n,
        }
        for e in estimates
    ]


def _trajectories(results: StudyResults) -> list[dict[str, Any]]:
    """One chart per stratum: mean HbA1c (95 % CI) at each time point, a line per arm."""
    definition = results.study.definition
    strata, arms = _labels(definition)
    days = {BASELINE: 0} | {f.code: f.target_days for f in definition.follow_ups}
    labels = [(0.0, "開始時")] + [(float(f.target_days), f.label_ja) for f in definition.follow_ups]
    means = (
        results.long.filter(pl.col("value").is_not_null())
        .group_by("stratum", "arm", "time")
        .agg(mean=pl.col("value").mean(), sd=pl.col("value").std(), n=pl.len())
    )
    out = []
    for group in definition.strata.groups:
        lines = []
        for index, arm in enumerate(definition.arms):
            part = means.filter((pl.col("stratum") == group.code) & (pl.col("arm") == arm.code))
            points = []
            for row in sorted(part.iter_rows(named=True), key=lambda r: days.get(r["time"], 0)):
                half = (
                    float(stats.t.ppf(0.975, row["n"] - 1)) * row["sd"] / math.sqrt(row["n"])
                    if row["n"] > 1 and row["sd"] is not None
                    else None
                )
                low = None if half is None else row["mean"] - half
                high = None if half is None else row["mean"] + half
                points.append(charts.Point(days.get(row["time"], 0), row["mean"], low, high))
            lines.append(charts.Line(arms[arm.code][0], points, charts.COLOURS[index % len(charts.COLOURS)]))
        title = f"HbA1c の推移（{strata[group.code][0]}）/ HbA1c by arm ({strata[group.code][1]})"
        desc = "平均値と 95% 信頼区間。表 1 と同じ数値です。/ Means with 95% CI; see table 1."
        out.append({"title": title, "svg": charts.line_chart(lines, labels, title, desc, y_label="HbA1c (%)")})
    return out


def _accuracy(results: StudyResults) -> dict[str, Any] | None:
    if results.accuracy is None or results.validation is None:
        return None
    rows = []
    boxes = []
    bland = []
    for row in results.accuracy.iter_rows(named=True):
        rows.append(
            {
                "product": row["product_name"],
                "n": row["n"],
                "participants": row["participants"],
                "mean": f"{row['mean_error']:.1f}%",
                "mean_ci": f"{_num(row['mean_low'], 1)} 〜 {_num(row['mean_high'], 1)}",
                "median": f"{row['median_error']:.1f}%",
                "quartiles": f"{row['q1_error']:.1f}% 〜 {row['q3_error']:.1f}%",
                "within": f"{row['within_jis']:.0f}%",
                "quartiles_within": "○" if row["quartiles_within_jis"] else "×",
                "bias": f"{row['bias_steps']:.0f}",
                "loa": f"{row['loa_low']:.0f} 〜 {row['loa_high']:.0f}",
                "spread_sd": _num(row["participant_sd_steps"], 0),
                "spread_range": _num(row["participant_range_steps"], 0),
            }
        )
        values = results.validation.filter(pl.col("product_code") == row["product_code"])
        rates = values["error_rate"].to_numpy()
        q1, q3 = float(row["q1_error"]), float(row["q3_error"])
        iqr = q3 - q1
        inside = rates[(rates >= q1 - 1.5 * iqr) & (rates <= q3 + 1.5 * iqr)]
        boxes.append(
            charts.Box(
                row["product_name"],
                q1,
                float(row["median_error"]),
                q3,
                float(inside.min()) if inside.size else q1,
                float(inside.max()) if inside.size else q3,
                float(row["mean_error"]),
                tuple(float(v) for v in rates[(rates < q1 - 1.5 * iqr) | (rates > q3 + 1.5 * iqr)]),
            )
        )
        title = f"Bland–Altman（{row['product_name']}）"
        bland.append(
            {
                "title": title,
                "svg": charts.bland_altman(
                    values["average"].to_list(),
                    values["difference"].to_list(),
                    float(row["bias_steps"]),
                    (float(row["loa_low"]), float(row["loa_high"])),
                    title,
                    "機器歩数 − 実測歩数（歩）と両者の平均。/ Device − reference steps against their mean.",
                ),
            }
        )
    box = charts.box_plot(
        boxes,
        "製品別の誤差率 / Error rate by product",
        "誤差率 =（機器 − 実測）/ 実測。箱は四分位、赤点は平均。/ Boxes: quartiles; red dot: mean.",
    )
    return {"rows": rows, "box": box, "bland": bland}


def _engagement(results: StudyResults) -> dict[str, Any]:
    definition = results.study.definition
    _, arms = _labels(definition)
    engagement = results.engagement
    lines, retention = [], []
    weeks = sorted(set(engagement.by_arm["week"].to_list()))
    labels = [(float(w), str(w)) for w in weeks if w % 2 == 0]
    for index, arm in enumerate(definition.arms):
        colour = charts.COLOURS[index % len(charts.COLOURS)]
        part = engagement.by_arm.filter(pl.col("arm") == arm.code).sort("week")
        lines.append(
            charts.Line(
                arms[arm.code][0],
                [charts.Point(w, d) for w, d in zip(part["week"], part["mean_days"], strict=True)],
                colour,
            )
        )
        kept = engagement.retention.filter(pl.col("arm") == arm.code).sort("week")
        retention.append(
            charts.Line(
                arms[arm.code][0],
                [charts.Point(w, r) for w, r in zip(kept["week"], kept["retained"], strict=True)],
                colour,
            )
        )
    devices = (
        engagement.by_device.group_by("device")
        .agg(participants=pl.col("participants").max(), mean_days=pl.col("mean_days").mean())
        .sort("device")
    )
    return {
        "days": charts.line_chart(
            lines,
            labels,
            "週あたりのデータのある日数 / Days with data per week",
            "割付された参加者あたりの平均（0〜7日）。週は開始日から。/ Mean per allocated participant.",
            y_label="日 / days",
        ),
        "retention": charts.line_chart(
            retention,
            labels,
            "継続率（ドロップアウト曲線）/ Retention (drop-out curve)",
            "その週以降にもデータがある参加者の割合。/ Share with data in or after the week.",
            y_label="%",
            y_format="{:.0f}",
        ),
        "devices": [
            {"device": row["device"], "participants": row["participants"], "mean_days": _num(row["mean_days"], 1)}
            for row in devices.iter_rows(named=True)
        ],
    }


def context(results: StudyResults, *, generated_at: datetime) -> dict[str, Any]:
    definition = results.study.definition
    snapshot = results.snapshot
    return {
        "d": definition,
        "primary": definition.primary,
        "reference": definition.arm(definition.reference_arm),
        "registered_at": results.study.registered_at,
        "allocation_source": results.study.allocation_source,
        "generated_at": generated_at,
        "snapshot": snapshot,
        "seed_rows": _seed_table(results),
        "estimates": _estimate_rows(results),
        "trajectories": _trajectories(results),
        "accuracy": _accuracy(results),
        "engagement": _engagement(results),
        "participants": results.study.allocation.height,
        "measurements": int(results.long["value"].is_not_null().sum()),
        "has_mixed": any(e.method == "mixed" for e in results.estimates),
        "mixed_skipped": mixed_skipped(results.long, definition),
        "mixed_limit": MIXED_MAX_PARTICIPANTS,
        "windows": [(f.label_ja, f.label_en, f.target_days, f.window_days) for f in definition.follow_ups],
    }


def render_html(results: StudyResults, *, generated_at: datetime, lang: str = "ja", pdf: bool = False) -> str:
    template = renderer(lang).env.get_template(TEMPLATE)
    styles = "" if pdf else "\n".join(css("reports.css"))
    return template.render(**context(results, generated_at=generated_at), pdf=pdf, inline_css=styles)


def render_pdf(results: StudyResults, *, generated_at: datetime, lang: str = "ja") -> bytes:
    return html_to_pdf(render_html(results, generated_at=generated_at, lang=lang, pdf=True))
