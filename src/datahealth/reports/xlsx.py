"""The national report as an Excel workbook: every table of the report, one sheet per subject.

Cells hold numbers (counts and percentages as numbers), hidden cells the text "—" with a note; the
public workbook contains only suppressed tables and no list of hospitals. Text that a spreadsheet would
run as a formula is written as a plain string (hospital names come from imports).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from datahealth.analytics.aggregates import TableView
from datahealth.analytics.national import NationalReport
from datahealth.clock import format_jst
from datahealth.institutions import founder_type_label, prefecture_name
from datahealth.web.i18n import translate

HIDDEN = "—"
_BOLD = Font(bold=True)
_HEAD = PatternFill("solid", fgColor="EEF2F6")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_GROUP_KEYS = {"band": "bed_band", "founder": "founder_type", "prefecture": "prefecture"}


def _safe(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _cells(sheet: Any, values: Iterable[object], bold: bool = False) -> list[WriteOnlyCell]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=_safe(value))
        if bold:
            cell.font = _BOLD
            cell.fill = _HEAD
        cells.append(cell)
    return cells


def _write_table(sheet: Any, view: TableView, lang: str) -> None:
    append = sheet.append
    append(_cells(sheet, [view.title.get(lang)], bold=True))
    head = [view.row_title.get(lang)]
    for _key, label in view.cols:
        head += [label.get(lang), "%"]
    head.append(translate("total", lang))
    append(_cells(sheet, head, bold=True))
    for row in [*view.rows, view.totals]:
        values: list[object] = [row.label.get(lang)]
        for cell in row.cells:
            values.append(HIDDEN if cell.count is None else cell.count)
            values.append(None if cell.percent is None else round(cell.percent, 1))
        values.append(HIDDEN if row.total.count is None else row.total.count)
        append(_cells(sheet, values))
    append([])


def national_xlsx(report: NationalReport, lang: str = "ja") -> bytes:
    book = Workbook(write_only=True)

    def sheet(title: str) -> Any:
        return book.create_sheet(title[:31])

    summary = sheet(translate("summary", lang))
    rows: list[list[object]] = [
        [report.survey_title.get(lang)],
        [translate("national_report", lang), translate(f"view_{report.view}", lang)],
        [translate(f"{report.view}_note", lang)],
        [format_jst(report.as_of)],
        [translate("targets", lang), report.targets],
        [translate("submitted", lang), report.submitted],
        [translate("response_rate", lang), None if report.rate is None else round(report.rate, 1)],
    ]
    for tier, count in report.tier_counts:
        shown = count if report.view == "internal" or count >= 10 else HIDDEN
        rows.append([tier.label.get(lang), shown])
    for row in rows:
        summary.append(_cells(summary, row))

    response = sheet(translate("progress", lang))
    _write_table(response, report.response_band, lang)
    _write_table(response, report.response_prefecture, lang)

    domains = sheet(translate("domain_scores_by_band", lang))
    bands = list(report.band_stats)
    domains.append(_cells(domains, [translate("domain", lang), translate("all_hospitals", lang), *bands], bold=True))
    for domain in report.scoring.domains:
        values: list[object] = [domain.label.get(lang), _pct(report.national.domain_means[domain.key])]
        values += [_pct(report.band_stats[b].domain_means[domain.key]) for b in bands]
        domains.append(_cells(domains, values))

    for group in ("band", "founder", "prefecture"):
        items = sheet(f"{translate('item', lang)}・{translate(_GROUP_KEYS[group], lang)}")
        for item_tables in report.items:
            _write_table(items, item_tables.tables[group], lang)

    for group in ("band", "founder", "prefecture"):
        answers = sheet(f"{translate('answers_by_question', lang)}・{translate(_GROUP_KEYS[group], lang)}")
        for answer_tables in report.answers:
            _write_table(answers, answer_tables.tables[group], lang)
        if group == "band":
            for view in report.multiple:
                _write_table(answers, view, lang)

    cross = sheet(translate("cross_tables", lang))
    for view in report.cross:
        _write_table(cross, view, lang)
    distribution = sheet(translate("password_distribution", lang))
    for view in report.distributions:
        _write_table(distribution, view, lang)
    if report.trends is not None:
        trends = sheet(translate("year_over_year", lang))
        for view in (report.trends.before, report.trends.after, report.trends.pairs):
            _write_table(trends, view, lang)

    if report.view == "internal":
        followup = sheet(translate("followup", lang))
        head = ["risk_tier", "institution_code", "hospital", "prefecture", "bed_count", "founder_type", "critical_gaps"]
        followup.append(
            _cells(
                followup,
                [translate(k, lang) for k in head] + [translate("respondent", lang), translate("email", lang)],
                bold=True,
            )
        )
        for entry in report.followup:
            record = entry.record
            followup.append(
                _cells(
                    followup,
                    [
                        entry.tier.label.get(lang),
                        record.code,
                        record.name,
                        prefecture_name(record.prefecture_code, lang),
                        record.bed_count,
                        founder_type_label(record.founder_type, lang),
                        "、".join(gap.label.get(lang) for gap in entry.gaps),
                        entry.respondent,
                        record.email or "",
                    ],
                )
            )

    notes = sheet("notes")
    for line in (translate("hidden_note", lang), translate("method_text", lang)):
        notes.append(_cells(notes, [line]))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _pct(value: float | None) -> float | str:
    return HIDDEN if value is None else round(100 * value, 1)
