"""XLSForm export/import: round trip, pyxform conversion, plain ODK forms and catalogued errors."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from pyxform.xls2xform import convert

from datahealth.errors import DefinitionError
from datahealth.survey.model import (
    Assumption,
    Choice,
    Contact,
    Guidance,
    Period,
    Question,
    QuestionType,
    Reference,
    Section,
    SurveyDefinition,
    Text,
)
from datahealth.survey.xlsform import read_xlsform, write_xlsform

BUNDLED = Path(__file__).parents[2] / "src/datahealth/survey/definitions/cyber_fy2024.yaml"


def sample_definition(**changes: Any) -> SurveyDefinition:
    """A small survey with every question type, groups with relevance, bounds, guidance and metadata."""
    intro = Section(
        name="intro",
        label=Text(ja="基本情報", en="Basics"),
        questions=[
            Question(name="q_note", type=QuestionType.NOTE, label=Text(ja="以下に回答してください。")),
            Question(
                name="q_has_system",
                code="Q1-1",
                type=QuestionType.YES_NO,
                label=Text(ja="電子カルテを導入していますか。", en="Do you run an EHR?"),
                hint=Text(ja="部門システムを含みます。", en="Departmental systems count."),
                guidance=Guidance(
                    text=Text(ja="導入済みなら「はい」。\n2行目の説明。", en="Answer yes if installed."),
                    references=[
                        Reference(
                            document=Text(
                                ja="医療情報システムの安全管理に関するガイドライン 経営管理編", en="Guideline"
                            ),
                            section="3.1.2 ②",
                            text=Text(ja="責任者を置くこと"),
                            url="https://example.org/guideline",
                        ),
                        Reference(document=Text(ja="企画管理編")),
                    ],
                ),
                required=True,
                required_message=Text(ja="選択してください。", en="Please choose."),
            ),
            Question(
                name="q_level",
                code="Q1-2",
                type=QuestionType.SELECT_ONE,
                choices="level",
                label=Text(ja="対策の水準", en="Level"),
                required=True,
            ),
            Question(
                name="q_measures",
                code="Q1-3",
                type=QuestionType.SELECT_MULTIPLE,
                choices="measures",
                label=Text(ja="実施している対策", en="Measures"),
                relevant="${q_has_system} = 'yes'",
            ),
        ],
    )
    detail = Section(
        name="detail",
        label=Text(ja="詳細", en="Details"),
        relevant="${q_has_system} = 'yes'",
        questions=[
            Question(
                name="q_terminals",
                code="Q2-1",
                type=QuestionType.INTEGER,
                label=Text(ja="端末台数", en="Number of terminals"),
                minimum=0,
                maximum=100000,
                digits_only=True,
                required=True,
            ),
            Question(
                name="q_servers",
                code="Q2-2",
                type=QuestionType.INTEGER,
                label=Text(ja="サーバ台数"),
                constraint=". <= ${q_terminals}",
                constraint_message=Text(ja="端末台数以下にしてください。", en="At most the terminals."),
                minimum=1,
                maximum=500,
            ),
            Question(
                name="q_ratio",
                code="Q2-3",
                type=QuestionType.DECIMAL,
                label=Text(ja="更新率", en="Patch ratio"),
                minimum=0.5,
            ),
            Question(
                name="q_vendor",
                code="Q2-4",
                type=QuestionType.TEXT,
                label=Text(ja="=保守事業者名", en="Vendor"),
                hint=Text(ja="正式名称で"),
                relevant="${q_terminals} > 0",
            ),
        ],
    )
    data: dict[str, Any] = {
        "id": "cyber-test",
        "version": "2024.1",
        "title": Text(ja="医療機関におけるサイバーセキュリティ対策調査", en="Hospital cybersecurity survey"),
        "description": Text(ja="説明文", en="Description"),
        "period": Period(opens=date(2024, 10, 1), closes=date(2024, 11, 30)),
        "contacts": [
            Contact(
                topic=Text(ja="調査内容", en="Questions"),
                organisation=Text(ja="厚生労働省 医政局", en="MHLW"),
                people=Text(ja="担当者"),
                phone="03-0000-0000",
                hours=Text(ja="平日 9:30～18:00"),
            ),
            Contact(topic=Text(ja="システム操作"), organisation=Text(ja="G-MIS 事務局"), note=Text(ja="メール可")),
        ],
        "faq": Text(ja="よくある質問"),
        "source": Text(ja="令和6年度 調査票", en="FY2024 questionnaire"),
        "choice_lists": {
            "level": [
                Choice(name="high", label=Text(ja="高", en="High")),
                Choice(name="low", label=Text(ja="低", en="Low")),
            ],
            "measures": [
                Choice(name="backup", label=Text(ja="バックアップ", en="Backup")),
                Choice(name="mfa", label=Text(ja="多要素認証")),
            ],
            "unused": [Choice(name="x1", label=Text(ja="未使用"))],
        },
        "sections": [intro, detail],
        "assumptions": [
            Assumption(question="q_terminals", text=Text(ja="0 台も許容する。", en="Zero is allowed.")),
        ],
    }
    data.update(changes)
    return SurveyDefinition(**data)


def sheet_rows(workbook_bytes: bytes, sheet: str) -> list[dict[str, Any]]:
    workbook = load_workbook(io.BytesIO(workbook_bytes))
    rows = list(workbook[sheet].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def make_workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """A workbook written by hand, one list of rows (header first) per sheet."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def raise_codes(data: bytes, fallback_id: str | None = None) -> list[tuple[str, int | None, str | None]]:
    with pytest.raises(DefinitionError) as caught:
        read_xlsform(data, fallback_id=fallback_id)
    return [(problem.code, problem.row, problem.field) for problem in caught.value.problems]


# --- round trip ------------------------------------------------------------------------------------


def test_round_trip_is_exact() -> None:
    definition = sample_definition()
    assert read_xlsform(write_xlsform(definition)) == definition


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    definition = sample_definition()
    path = tmp_path / "survey.xlsx"
    path.write_bytes(write_xlsform(definition))
    assert read_xlsform(path) == definition


def test_minimal_definition_round_trips() -> None:
    definition = SurveyDefinition(
        id="tiny",
        version="1",
        title=Text(ja="小"),
        default_language="en",
        sections=[Section(name="s", label=Text(ja="節"), questions=[])],
    )
    assert read_xlsform(write_xlsform(definition)) == definition


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=2))
def test_any_text_round_trips(texts: list[str]) -> None:
    # control characters, carriage returns and literal "_x0041_" survive as OOXML _xHHHH_ escapes
    label, hint = texts
    question = Question(name="q", type=QuestionType.TEXT, label=Text(ja=label, en=hint), hint=Text(ja=hint))
    definition = sample_definition(
        title=Text(ja=label),
        sections=[Section(name="s", label=Text(ja=hint, en=label), questions=[question])],
    )
    assert read_xlsform(write_xlsform(definition)) == definition


def test_awkward_characters_round_trip() -> None:
    text = "a\r\nb\x01c_x0041_d_x005F_e=f"
    question = Question(name="q", type=QuestionType.TEXT, label=Text(ja=text))
    definition = sample_definition(sections=[Section(name="s", label=Text(ja="節"), questions=[question])])
    assert read_xlsform(write_xlsform(definition)) == definition


def test_own_yes_no_list_does_not_clash_with_the_generated_one() -> None:
    lists = {
        "yes_no": [Choice(name="a", label=Text(ja="甲")), Choice(name="b", label=Text(ja="乙"))],
        "agree": [Choice(name="yes", label=Text(ja="賛成")), Choice(name="no", label=Text(ja="反対"))],
    }
    questions = [
        Question(name="q1", type=QuestionType.YES_NO, label=Text(ja="一")),
        Question(name="q2", type=QuestionType.SELECT_ONE, choices="yes_no", label=Text(ja="二")),
        Question(name="q3", type=QuestionType.SELECT_MULTIPLE, choices="agree", label=Text(ja="三")),
    ]
    definition = sample_definition(
        choice_lists=lists, sections=[Section(name="s", label=Text(ja="節"), questions=questions)]
    )
    written = write_xlsform(definition)
    assert {row["list_name"] for row in sheet_rows(written, "choices")} == {"yes_no", "yes_no_2", "agree"}
    assert read_xlsform(written) == definition


def test_workbook_uses_the_documented_columns() -> None:
    written = write_xlsform(sample_definition())
    survey = sheet_rows(written, "survey")
    assert list(survey[0])[:5] == ["type", "name", "code", "label::Japanese (ja)", "label::English (en)"]
    assert {
        "guidance_hint::Japanese (ja)",
        "guidance_references",
        "minimum",
        "maximum",
        "digits_only",
    } <= set(survey[0])
    assert survey[0]["type"] == "begin_group"
    assert survey[-1]["type"] == "end_group"
    by_name = {row["name"]: row for row in survey if row["type"] not in ("begin_group", "end_group")}
    assert by_name["q_has_system"]["type"] == "select_one yes_no"
    assert by_name["q_has_system"]["required"] == "yes"
    # bounds without an own constraint become a standard constraint; an own constraint is kept
    assert by_name["q_terminals"]["constraint"] == ". >= 0 and . <= 100000"
    assert by_name["q_servers"]["constraint"] == ". <= ${q_terminals}"
    assert by_name["q_ratio"]["constraint"] == ". >= 0.5"
    assert by_name["q_vendor"]["label::Japanese (ja)"] == "=保守事業者名"  # text, not a formula
    choices = sheet_rows(written, "choices")
    assert {
        "list_name": "yes_no",
        "name": "yes",
        "label::Japanese (ja)": "はい",
        "label::English (en)": "Yes",
    } in (choices)
    (settings,) = sheet_rows(written, "settings")
    assert settings["form_id"] == "cyber-test"
    assert settings["default_language"] == "Japanese (ja)"
    assert settings["period_opens"] == "2024-10-01"
    (assumption,) = sheet_rows(written, "assumptions")
    assert assumption["question"] == "q_terminals"


def test_pyxform_converts_the_exported_workbook(tmp_path: Path) -> None:
    path = tmp_path / "cyber.xlsx"
    path.write_bytes(write_xlsform(sample_definition()))
    warnings: list[str] = []
    xform = convert(xlsform=str(path), warnings=warnings, validate=False).xform
    assert "${" not in xform  # every ${name} was translated into an instance path
    assert re.search(r'nodeset="/\w+/detail"[^>]*relevant="\s*/\w+/intro/q_has_system\s*= \'yes\'"', xform)
    assert re.search(r'nodeset="/\w+/detail/q_vendor"[^>]*relevant="\s*/\w+/detail/q_terminals\s*&gt; 0"', xform)
    assert ". &gt;= 0 and . &lt;= 100000" in xform
    assert "電子カルテを導入していますか。" in xform
    assert "はい" in xform
    assert 'lang="Japanese (ja)" default="true()"' in xform
    # the bytes API converts too
    assert convert(xlsform=path.read_bytes(), validate=False).xform == xform


def test_constraint_without_custom_bounds_is_kept() -> None:
    data = make_workbook(
        {
            "survey": [
                ["type", "name", "label", "constraint"],
                ["integer", "beds", "病床数", ". >= 0 and . <= 100"],
            ]
        }
    )
    (question,) = read_xlsform(data, fallback_id="beds").questions()
    assert question.constraint == ". >= 0 and . <= 100"
    assert question.minimum is None


# --- plain ODK forms ----------------------------------------------------------------------------------


PLAIN_SURVEY: list[list[Any]] = [
    ["type", "name", "label", "relevant", "required", "constraint", "appearance"],
    ["start", "start", None, None, None, None, None],
    ["begin_group", "basic", "基本", None, None, None, "field-list"],
    ["select_one yes_no", "has_ehr", "電子カルテ", None, "TRUE", None, None],
    ["begin group", "inner", "内側", "${has_ehr} = 'yes'", None, None, None],
    ["integer", "beds", "病床数", ". > 0", "true", ". > 0", None],
    ["select_multiple places", "places", "設置場所", None, "1", None, None],
    ["end group", None, None, None, None, None, None],
    ["text", "memo", "メモ", None, "no", None, None],
    ["end_group", None, None, None, None, None, None],
    [None, None, None, None, None, None, None],
    ["note", "thanks", "ありがとうございました", None, None, None, None],
]
PLAIN_CHOICES: list[list[Any]] = [
    ["list_name", "name", "label"],
    ["yes_no", "yes", "はい"],
    ["yes_no", "no", "いいえ"],
    ["places", "server_room", "サーバ室"],
    ["places", "office", "事務室"],
]


def test_plain_odk_form_imports() -> None:
    data = make_workbook({"survey": PLAIN_SURVEY, "choices": PLAIN_CHOICES})
    definition = read_xlsform(data, fallback_id="plain form")
    assert definition.id == "plain_form"
    assert definition.title == Text(ja="plain_form")
    assert [section.name for section in definition.sections] == ["basic", "main"]
    basic = definition.sections[0]
    assert basic.label == Text(ja="基本")
    assert [question.name for question in basic.questions] == ["has_ehr", "beds", "places", "memo"]
    has_ehr, beds, places, memo = basic.questions
    assert has_ehr.type == QuestionType.YES_NO and has_ehr.choices is None and has_ehr.required
    assert beds.relevant == "(${has_ehr} = 'yes') and (. > 0)"
    assert beds.constraint == ". > 0" and beds.required
    assert places.relevant == "${has_ehr} = 'yes'" and places.type == QuestionType.SELECT_MULTIPLE
    assert memo.relevant is None and not memo.required
    assert definition.sections[1].questions[0].type == QuestionType.NOTE
    assert "yes_no" not in definition.choice_lists  # only the yes_no questions used it
    assert definition.choice_lists["places"][0] == Choice(name="server_room", label=Text(ja="サーバ室"))


def test_language_column_spellings() -> None:
    data = make_workbook(
        {
            "survey": [
                [
                    "type",
                    "name",
                    "label::日本語 (ja)",
                    "label::English (en)",
                    "hint::ja",
                    "hint::en",
                    "label::fr",
                ],
                ["text", "a", "ア", "A", "ヒント", "Hint", "ignored"],
            ],
            "settings": [["form_title", "form_id", "version"], ["題", "f1", 3]],
        }
    )
    definition = read_xlsform(data)
    (question,) = definition.questions()
    assert question.label == Text(ja="ア", en="A")
    assert question.hint == Text(ja="ヒント", en="Hint")
    assert definition.version == "3"
    assert definition.title == Text(ja="題")


def test_english_only_form_uses_english_as_japanese() -> None:
    data = make_workbook(
        {
            "survey": [["type", "name", "label::English (en)"], ["text", "a", "Name"]],
            "settings": [["form_id", "default_language"], ["f2", "English (en)"]],
        }
    )
    definition = read_xlsform(data)
    assert definition.default_language == "en"
    assert definition.questions()[0].label == Text(ja="Name", en="Name")


def test_ungrouped_runs_get_distinct_sections() -> None:
    data = make_workbook(
        {
            "survey": [
                ["type", "name", "label"],
                ["text", "a", "A"],
                ["begin_group", "main", "グループ"],
                ["text", "b", "B"],
                ["end_group", None, None],
                ["text", "c", "C"],
            ]
        }
    )
    definition = read_xlsform(data, fallback_id="x")
    assert [section.name for section in definition.sections] == ["main_2", "main", "main_3"]


def test_calculate_row_is_refused_with_its_row() -> None:
    survey = [*PLAIN_SURVEY[:4], ["calculate", "total", None, None, None, None, None], *PLAIN_SURVEY[4:]]
    codes = raise_codes(make_workbook({"survey": survey, "choices": PLAIN_CHOICES}), fallback_id="plain")
    assert codes == [("DH-D105", 5, "type")]


@pytest.mark.parametrize("type_", ["begin_repeat", "geopoint", "select_one_from_file places.csv", "rank places"])
def test_unsupported_types(type_: str) -> None:
    survey = [["type", "name", "label"], ["text", "a", "A"], [type_, "b", "B"]]
    codes = raise_codes(make_workbook({"survey": survey, "choices": PLAIN_CHOICES}))
    assert codes[0] == ("DH-D105", 3, "type")


# --- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["text", None, "名前なし"]], ("DH-D102", 2, "name")),
        ([["select_one nowhere", "a", "A"]], ("DH-D102", 2, "type")),
        ([["text", "a", "A"], ["integer", "a", "B"]], ("DH-D102", 3, "name")),
        ([["end_group", None, None]], ("DH-D102", 2, "type")),
        ([["begin_group", "g", "G"], ["text", "a", "A"]], ("DH-D102", 2, "type")),
        ([["begin_group", None, "G"], ["text", "a", "A"], ["end_group", None, None]], ("DH-D102", 2, "name")),
        ([["text", "1bad", "A"]], ("DH-D102", 2, "name")),
        ([[None, "a", "A"]], ("DH-D102", 2, "type")),
    ],
)
def test_survey_sheet_errors_name_row_and_column(rows: list[list[Any]], expected: tuple[str, int, str]) -> None:
    data = make_workbook({"survey": [["type", "name", "label"], *rows], "settings": [["form_id"], ["f"]]})
    assert expected in raise_codes(data)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("required", "maybe"),
        ("minimum", "ten"),
        ("guidance_references", "[{"),
        ("guidance_references", '[{"section": "1"}]'),
        ("digits_only", "sometimes"),
    ],
)
def test_bad_cells_name_their_column(column: str, value: str) -> None:
    data = make_workbook(
        {"survey": [["type", "name", "label", "guidance_hint", column], ["integer", "a", "A", "要領", value]]}
    )
    assert ("DH-D102", 2, column) in raise_codes(data)


def test_errors_are_all_reported_together() -> None:
    data = make_workbook(
        {
            "survey": [
                ["type", "name", "label"],
                ["text", None, "A"],
                ["calculate", "c", None],
                ["text", "b", "B"],
            ],
            "choices": [["list_name", "name", "label"], ["l", None, "x"], [None, "y", "y"], ["l", "z", "z"]],
        }
    )
    with pytest.raises(DefinitionError) as caught:
        read_xlsform(data, fallback_id="f")
    found = {(problem.code, problem.params["sheet"], problem.row, problem.field) for problem in caught.value.problems}
    assert found == {
        ("DH-D102", "survey", 2, "name"),
        ("DH-D105", "survey", 3, "type"),
        ("DH-D102", "choices", 2, "name"),
        ("DH-D102", "choices", 3, "list_name"),
    }
    messages = caught.value.messages("ja")
    assert any(message.startswith("surveyシート 2 行目（name）：") for message in messages)
    assert any(message.startswith("Sheet choices, row 3 (list_name): ") for message in caught.value.messages("en"))


def test_duplicate_choice_is_reported_on_the_choices_sheet() -> None:
    data = make_workbook(
        {
            "survey": [["type", "name", "label"], ["select_one l", "a", "A"]],
            "choices": [["list_name", "name", "label"], ["l", "x", "X"], ["l", "x", "X2"]],
        }
    )
    with pytest.raises(DefinitionError) as caught:
        read_xlsform(data, fallback_id="f")
    (problem,) = caught.value.problems
    assert (problem.code, problem.row, problem.field, problem.params["sheet"]) == (
        "DH-D102",
        3,
        "name",
        "choices",
    )


@pytest.mark.parametrize(
    ("settings", "column"),
    [
        ([["form_id", "period_opens", "period_closes"], ["f", "2024-12-01", "2024-11-01"]], "period_closes"),
        ([["form_id", "period_opens", "period_closes"], ["f", "someday", "2024-11-01"]], "period_opens"),
        ([["form_id"], ["bad id!"]], "form_id"),
        ([["form_id", "contacts"], ["f", '[{"topic": {"ja": "x"}}]']], "contacts"),
        ([["version"], ["1"]], "form_id"),
    ],
)
def test_settings_errors_name_their_column(settings: list[list[Any]], column: str) -> None:
    data = make_workbook({"survey": [["type", "name", "label"], ["text", "a", "A"]], "settings": settings})
    assert ("DH-D102", 2, column) in raise_codes(data)


def test_missing_survey_sheet_is_unreadable() -> None:
    codes = raise_codes(make_workbook({"choices": PLAIN_CHOICES}))
    assert codes == [("DH-D101", None, None)]


def test_damaged_workbook_is_unreadable() -> None:
    assert raise_codes(b"PK\x03\x04 not really a zip") == [("DH-D101", None, None)]


# --- the bundled survey ---------------------------------------------------------------------------


@pytest.mark.skipif(not BUNDLED.exists(), reason="the bundled FY2024 survey is not there yet")
def test_bundled_survey_round_trips_through_xlsx_and_pyxform(tmp_path: Path) -> None:
    from datahealth.survey.definitions import load_bundled  # imported here: the bundled survey is optional

    definition = load_bundled("cyber-fy2024")
    written = write_xlsform(definition)
    assert read_xlsform(written) == definition
    path = tmp_path / "cyber.xlsx"
    path.write_bytes(written)
    assert "${" not in convert(xlsform=str(path), validate=False).xform
