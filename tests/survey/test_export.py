"""Exporting responses: exactly the relevant answers, typed numbers, BOM, formula-injection safety."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.survey.definitions import load_bundled
from datahealth.survey.export import export_columns, export_csv, export_rows, export_xlsx
from datahealth.survey.model import Answers, QuestionType, SurveyDefinition
from datahealth.survey.tables import Response, ResponseStatus, Survey
from factories import make_admin, make_open_survey, make_org

FORMULA = '=HYPERLINK("http://attacker.example/","click")'
SUBMITTED_AT = datetime(2025, 2, 3, 3, 4, 5, tzinfo=UTC)  # 12:04:05 in Japan

ANSWERS_A: Answers = {
    # Q2-1 "no": Q2-2, Q2-3 and Q2-3 その他 do not apply. Stale answers stored for them anyway
    # (as an older draft might hold) must not reach the export.
    "q1_1": "佐藤 花子",
    "q1_2": "=cmd|' /C calc'!A0",
    "q2_1": "no",
    "q2_2": "yes",
    "q2_3": ["it_passport"],
    "q2_3_other": "stale",
    "q3": "s1",
    "q13": "１２",
}
ANSWERS_B: Answers = {
    "q1_1": "鈴木 太郎",
    "q1_2": "桜台病院",
    "q2_1": "yes",
    "q2_2": "yes",
    "q2_3": ["fundamental_it_engineer", "other"],
    "q2_3_other": FORMULA,
    "q3": "s3_4",
    "q13": "12",
    "q17_1": "yes",
    "q17_2": "no",
}


@pytest.fixture
def defn() -> SurveyDefinition:
    return load_bundled("cyber-fy2024")


def respond(
    db: Session, survey: Survey, org: Organisation, answers: Answers, status: ResponseStatus = ResponseStatus.DRAFT
) -> Response:
    submitted = status == ResponseStatus.SUBMITTED
    response = Response(
        survey_id=survey.id,
        organisation_id=org.id,
        status=status,
        answers=answers,
        updated_at=SUBMITTED_AT,
        submitted_at=SUBMITTED_AT if submitted else None,
        receipt_code="CYBER-FY2024-000001-ABC123" if submitted else None,
    )
    db.add(response)
    db.flush()
    return response


@pytest.fixture
def survey(db: Session, defn: SurveyDefinition) -> Survey:
    make_admin(db)
    a = make_org(db, "1310000001", "青葉病院", prefecture_code=13, bed_count=50, founder_type="public")
    b = make_org(db, "0110000002", "桜台病院", prefecture_code=1, bed_count=620)
    make_org(db, "2710000003", "未回答病院", prefecture_code=27, bed_count=200)  # target, no response
    survey = make_open_survey(db, defn)
    respond(db, survey, a, ANSWERS_A)
    respond(db, survey, b, ANSWERS_B, ResponseStatus.SUBMITTED)
    outsider = make_org(db, "1310000099", "対象外病院", prefecture_code=13, bed_count=50)  # not a target
    respond(db, survey, outsider, ANSWERS_B)
    db.commit()
    return survey


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def q2_3_keys(defn: SurveyDefinition) -> list[str]:
    return [f"q2_3/{choice.name}" for choice in defn.choices_for(defn.question("q2_3"))]


def test_columns_follow_the_definition(defn: SurveyDefinition) -> None:
    keys = [column.key for column in export_columns(defn)]
    assert keys[:11] == [
        "institution_code",
        "hospital_name",
        "prefecture_code",
        "prefecture",
        "bed_count",
        "bed_band",
        "founder_type",
        "status",
        "submitted_at",
        "updated_at",
        "receipt_code",
    ]
    expected: list[str] = []
    for question in defn.questions():
        if not question.answerable:
            continue
        if question.type == QuestionType.SELECT_MULTIPLE:
            expected.extend(f"{question.name}/{choice.name}" for choice in defn.choices_for(question))
        else:
            expected.append(question.name)
    assert keys[11:] == expected
    assert "intro" not in keys and "q2_3" not in keys
    assert len(keys) == len(set(keys))


def test_csv_holds_exactly_the_relevant_answers(db: Session, survey: Survey, defn: SurveyDefinition) -> None:
    data = export_csv(db, survey.id)
    assert data.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header == [column.key for column in export_columns(defn)]
    rows = csv_rows(data)
    assert [row["institution_code"] for row in rows] == ["0110000002", "1310000001"]  # by code; targets only
    b, a = rows

    assert a["q2_1"] == "no"
    assert a["q2_2"] == "" and a["q2_3_other"] == ""
    assert all(a[key] == "" for key in q2_3_keys(defn))
    assert a["q13"] == "１２"  # not a valid integer: kept as typed
    assert a["q4"] == "" and a["q17_1"] == ""  # relevant but unanswered
    assert (a["status"], a["submitted_at"], a["receipt_code"]) == ("draft", "", "")

    assert b["q2_2"] == "yes"
    chosen = {key: b[key] for key in q2_3_keys(defn)}
    assert chosen.pop("q2_3/fundamental_it_engineer") == "1" and chosen.pop("q2_3/other") == "1"
    assert set(chosen.values()) == {"0"}
    assert b["q13"] == "12" and b["q3"] == "s3_4"
    assert b["q17_2"] == "no" and b["q17_3"] == "" and b["q17_6"] == ""  # Q17-3… follow "yes" only
    assert (b["prefecture_code"], b["prefecture"]) == ("1", "北海道")
    assert (b["bed_count"], b["bed_band"]) == ("620", "500+")
    assert (b["status"], b["submitted_at"]) == ("submitted", "2025-02-03T12:04:05+09:00")
    assert b["receipt_code"] == "CYBER-FY2024-000001-ABC123"


def test_csv_neutralises_formulas(db: Session, survey: Survey) -> None:
    b, a = csv_rows(export_csv(db, survey.id))
    assert b["q2_3_other"] == "'" + FORMULA
    assert a["q1_2"] == "'=cmd|' /C calc'!A0"
    assert a["founder_type"] == "public"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_prefix_is_neutralised(db: Session, survey: Survey, text: str) -> None:
    response = db.query(Response).filter(Response.status == ResponseStatus.SUBMITTED).one()
    response.answers = {**response.answers, "q1_1": text}
    db.commit()
    b, _a = csv_rows(export_csv(db, survey.id))
    assert b["q1_1"] == "'" + text


def test_rows_are_typed(db: Session, survey: Survey, defn: SurveyDefinition) -> None:
    keys = [column.key for column in export_columns(defn)]
    b, a = (dict(zip(keys, row, strict=True)) for row in export_rows(db, survey.id))
    assert b["q13"] == 12 and isinstance(b["q13"], int)
    assert b["bed_count"] == 620 and b["prefecture_code"] == 1
    assert a["q13"] == "１２"
    assert a["q2_2"] is None and b["q2_3/other"] == 1 and b["q2_3/it_passport"] == 0


def sheet_rows(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_xlsx_sheets_dictionary_and_formula_safety(db: Session, survey: Survey, defn: SurveyDefinition) -> None:
    book = load_workbook(io.BytesIO(export_xlsx(db, survey.id, now=SUBMITTED_AT)))
    assert book.sheetnames == ["responses", "data_dictionary", "survey"]

    responses = book["responses"]
    rows = sheet_rows(responses)
    keys = rows[0]
    assert keys == [column.key for column in export_columns(defn)]
    b = dict(zip(keys, rows[1], strict=True))
    a = dict(zip(keys, rows[2], strict=True))
    assert b["q2_3_other"] == FORMULA  # the exact text, stored as a string …
    other_cell = responses.cell(row=2, column=keys.index("q2_3_other") + 1)
    assert other_cell.data_type == "s"  # … never as a formula
    name_cell = responses.cell(row=3, column=keys.index("q1_2") + 1)
    assert name_cell.value == ANSWERS_A["q1_2"] and name_cell.data_type == "s"
    assert b["q13"] == 12 and b["q2_3/fundamental_it_engineer"] == 1 and b["q2_3/it_passport"] == 0
    assert b["institution_code"] == "0110000002"  # text: the leading zero survives
    assert all(a[key] is None for key in [*q2_3_keys(defn), "q2_2", "q2_3_other"])

    dictionary = sheet_rows(book["data_dictionary"])
    assert dictionary[0] == ["key", "code", "label_ja", "label_en", "type", "choices", "relevant", "required"]
    codes = {row[1] for row in dictionary[1:]}
    assert {question.display_code for question in defn.questions() if question.answerable} <= codes
    assert {question.code for question in defn.questions() if question.code} <= codes
    by_key = {row[0]: row for row in dictionary[1:]}
    assert [row[0] for row in dictionary[1:]] == keys
    assert by_key["q2_2"][6] == "${q2_1} = 'yes'" and by_key["q2_2"][7] == "yes"
    assert "yes=はい" in by_key["q2_1"][5]
    assert by_key["q2_3/other"][1] == "Q2-3"

    about = {row[0]: row[1] for row in sheet_rows(book["survey"])}
    assert about["id"] == survey.id and about["version"] == defn.version
    assert about["exported_at"] == "2025-02-03T12:04:05+09:00" and about["responses"] == 2


def test_export_of_many_hospitals_streams_quickly(db: Session, defn: SurveyDefinition) -> None:
    orgs = [make_org(db, f"13{i:08d}", f"病院{i}", prefecture_code=13, bed_count=20 + i % 700) for i in range(1500)]
    survey = make_open_survey(db, defn)
    db.add_all(
        Response(
            survey_id=survey.id,
            organisation_id=org.id,
            status=ResponseStatus.SUBMITTED,
            answers=ANSWERS_B,
            updated_at=SUBMITTED_AT,
            submitted_at=SUBMITTED_AT,
        )
        for org in orgs
    )
    db.commit()
    started = time.perf_counter()
    data = export_csv(db, survey.id)
    elapsed = time.perf_counter() - started
    assert len(csv_rows(data)) == 1500
    assert elapsed < 10, f"CSV export took {elapsed:.1f} s"
