"""Export every response of a survey as CSV or XLSX, with a data dictionary.

One row per target hospital that has a response (draft or submitted), ordered by institution code.
Hospital columns come first, then one column per answerable question in definition order, keyed by
the question's XLSForm name; a select_multiple becomes one 0/1 column per choice keyed
``name/choice`` (the XLSForm/ODK convention).

The export holds exactly the relevant answers: a question that does not apply to a hospital (its
``relevant`` condition is false) is an empty cell, all of its 0/1 columns included, as is a relevant
question left unanswered. Integer and decimal answers are numbers when valid, text otherwise.

Text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR)
is prefixed with ``'`` in CSV and written as a plain string cell in XLSX. Rows are streamed from
the database, so a national survey (about 8,000 hospitals) exports in seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.clock import JST
from datahealth.db import utcnow
from datahealth.institutions import BED_BANDS, FOUNDER_TYPES, bed_band, prefecture_name
from datahealth.survey.answers import relevant_names, typed_value
from datahealth.survey.model import AnswerValue, Question, QuestionType, SurveyDefinition
from datahealth.survey.service import definition_of, get_survey
from datahealth.survey.tables import Response, ResponseStatus, Survey, SurveyTarget

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_YIELD_PER = 500

Cell = str | int | float | None


@dataclass(frozen=True)
class ExportColumn:
    key: str
    question: Question | None
    """The question the column holds (``None`` for the hospital and status columns)."""
    choice: str | None
    """For a select_multiple, the choice this 0/1 column stands for."""
    label_ja: str
    label_en: str
    type: str
    """What the cells hold, for the data dictionary (``integer``, ``select_one``, ``0/1`` …)."""
    choices: str = ""
    """The values a cell may hold, ``name=ラベル; …``, for the data dictionary."""


_STATUS_LABELS = {ResponseStatus.SUBMITTED.value: "提出済み", ResponseStatus.DRAFT.value: "一時保存"}

HOSPITAL_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("institution_code", None, None, "医療機関コード", "Institution code", "text (10 digits)"),
    ExportColumn("hospital_name", None, None, "医療機関名", "Hospital name", "text"),
    ExportColumn("prefecture_code", None, None, "都道府県コード", "Prefecture code (JIS X 0401)", "integer"),
    ExportColumn("prefecture", None, None, "都道府県", "Prefecture", "text"),
    ExportColumn("bed_count", None, None, "病床数", "Number of beds", "integer"),
    ExportColumn(
        "bed_band",
        None,
        None,
        "病床規模",
        "Bed-size band",
        "text",
        "; ".join(f"{band.key}={band.label('ja')}" for band in BED_BANDS),
    ),
    ExportColumn(
        "founder_type",
        None,
        None,
        "開設者区分",
        "Founder type",
        "text",
        "; ".join(f"{key}={ja}" for key, (ja, _en) in FOUNDER_TYPES.items()),
    ),
    ExportColumn(
        "status",
        None,
        None,
        "回答状況",
        "Response status",
        "text",
        "; ".join(f"{key}={label}" for key, label in _STATUS_LABELS.items()),
    ),
    ExportColumn(
        "submitted_at", None, None, "提出日時（日本時間）", "Submitted at (JST)", "datetime (ISO 8601, +09:00)"
    ),
    ExportColumn(
        "updated_at", None, None, "最終更新日時（日本時間）", "Last saved at (JST)", "datetime (ISO 8601, +09:00)"
    ),
    ExportColumn("receipt_code", None, None, "受付番号", "Receipt code", "text"),
)


def export_columns(defn: SurveyDefinition) -> list[ExportColumn]:
    """The export's columns: the hospital columns, then the answerable questions in definition order."""
    columns = list(HOSPITAL_COLUMNS)
    for question in defn.questions():
        if not question.answerable:
            continue
        choices = defn.choices_for(question)
        if question.type == QuestionType.SELECT_MULTIPLE:
            for choice in choices:
                columns.append(
                    ExportColumn(
                        f"{question.name}/{choice.name}",
                        question,
                        choice.name,
                        f"{question.label.ja}：{choice.label.ja}",
                        f"{question.label.get('en')}: {choice.label.get('en')}",
                        "select_multiple choice (0/1)",
                        "1=選択 (chosen); 0=非選択 (not chosen)",
                    )
                )
        else:
            columns.append(
                ExportColumn(
                    question.name,
                    question,
                    None,
                    question.label.ja,
                    question.label.get("en"),
                    question.type.value,
                    "; ".join(f"{choice.name}={choice.label.ja}" for choice in choices),
                )
            )
    return columns


# --- rows ----------------------------------------------------------------------------------------------


def _jst(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(JST).isoformat(timespec="seconds")


def _question_cells(defn: SurveyDefinition, answers: dict[str, AnswerValue]) -> list[Cell]:
    relevant = relevant_names(defn, answers)
    cells: list[Cell] = []
    for question in defn.questions():
        if not question.answerable:
            continue
        value = answers.get(question.name) if question.name in relevant else None
        if question.type == QuestionType.SELECT_MULTIPLE:
            names = [choice.name for choice in defn.choices_for(question)]
            if value is None:
                cells.extend([None] * len(names))
            else:
                chosen = set(value.split() if isinstance(value, str) else value)
                cells.extend(1 if name in chosen else 0 for name in names)
            continue
        typed = typed_value(question, value)
        cells.append(" ".join(typed) if isinstance(typed, list) else typed)
    return cells


def export_rows(db: Session, survey_id: int) -> Iterator[list[object]]:
    """One row per target hospital with a response, in ``export_columns`` order, by institution code."""
    survey = get_survey(db, survey_id)
    defn = definition_of(survey)
    stmt = (
        select(
            Organisation.code,
            Organisation.name,
            Organisation.prefecture_code,
            Organisation.bed_count,
            Organisation.founder_type,
            Response.status,
            Response.submitted_at,
            Response.updated_at,
            Response.receipt_code,
            Response.answers,
        )
        .select_from(Response)
        .join(Organisation, Organisation.id == Response.organisation_id)
        .join(
            SurveyTarget,
            and_(
                SurveyTarget.survey_id == Response.survey_id, SurveyTarget.organisation_id == Response.organisation_id
            ),
        )
        .where(Response.survey_id == survey.id)
        .order_by(Organisation.code, Organisation.id)
        .execution_options(yield_per=_YIELD_PER)
    )
    for code, name, prefecture, beds, founder, status, submitted_at, updated_at, receipt, answers in db.execute(stmt):
        band = bed_band(beds)
        row: list[object] = [
            code,
            name,
            prefecture,
            prefecture_name(prefecture) if prefecture is not None else None,
            beds,
            band.key if band else None,
            founder,
            status,
            _jst(submitted_at) if status == ResponseStatus.SUBMITTED else None,
            _jst(updated_at),
            receipt,
        ]
        row.extend(_question_cells(defn, dict(answers or {})))
        yield row


# --- CSV ----------------------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (CSV formula injection)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def export_csv(db: Session, survey_id: int) -> bytes:
    """All responses as CSV: UTF-8 with a BOM (so Excel reads Japanese), one header row of column keys."""
    survey = get_survey(db, survey_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.key for column in export_columns(definition_of(survey))])
    for row in export_rows(db, survey.id):
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


# --- XLSX ---------------------------------------------------------------------------------------------


def _xlsx_cell(sheet: Any, value: object) -> object:
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters cannot be stored in XLSX
    if not text.startswith(FORMULA_PREFIXES):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # a string cell, never a formula, whatever it starts with
    return cell


def _append(sheet: Any, values: list[object]) -> None:
    sheet.append([_xlsx_cell(sheet, value) for value in values])


def _dictionary_rows(defn: SurveyDefinition, columns: list[ExportColumn]) -> Iterator[list[object]]:
    yield ["key", "code", "label_ja", "label_en", "type", "choices", "relevant", "required"]
    for column in columns:
        question = column.question
        if question is None:
            yield [column.key, "", column.label_ja, column.label_en, column.type, column.choices, "", ""]
            continue
        section = defn.section_of(question.name)
        conditions = [text for text in (section.relevant, question.relevant) if text and text.strip()]
        relevant = " and ".join(f"({text})" for text in conditions) if len(conditions) > 1 else "".join(conditions)
        yield [
            column.key,
            question.display_code,
            column.label_ja,
            column.label_en,
            column.type,
            column.choices,
            relevant,
            "yes" if question.required else "no",
        ]


def _survey_rows(survey: Survey, defn: SurveyDefinition, now: datetime, count: int) -> list[list[object]]:
    return [
        ["field", "value"],
        ["id", survey.id],
        ["survey_key", survey.survey_key],
        ["version", survey.version],
        ["title_ja", survey.title_ja],
        ["title_en", survey.title_en or defn.title.get("en")],
        ["opens_on", survey.opens_on.isoformat()],
        ["closes_on", survey.closes_on.isoformat()],
        ["status", survey.status],
        ["exported_at", _jst(now)],
        ["responses", count],
    ]


def export_xlsx(db: Session, survey_id: int, *, now: datetime | None = None) -> bytes:
    """All responses as XLSX: sheets ``responses``, ``data_dictionary`` and ``survey``."""
    survey = get_survey(db, survey_id)
    defn = definition_of(survey)
    columns = export_columns(defn)
    book = Workbook(write_only=True)
    responses = book.create_sheet("responses")
    dictionary = book.create_sheet("data_dictionary")
    about = book.create_sheet("survey")
    _append(responses, [column.key for column in columns])
    count = 0
    for row in export_rows(db, survey.id):
        _append(responses, row)
        count += 1
    for values in _dictionary_rows(defn, columns):
        _append(dictionary, values)
    for values in _survey_rows(survey, defn, now or utcnow(), count):
        _append(about, values)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
