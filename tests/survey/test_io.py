"""Definition files: format dispatch, exact JSON/YAML round trips and catalogued read errors."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datahealth.errors import DefinitionError
from datahealth.survey.io import (
    dump_json,
    dump_yaml,
    export_definition,
    field_path,
    load_definition,
    load_definition_bytes,
)
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

BUNDLED = Path(__file__).parents[2] / "src/datahealth/survey/definitions/cyber_fy2024.yaml"

# strings that YAML would otherwise read as something else, or that need a block or quotes
TRICKY = ["yes", "No", "null", "~", "1.0", "0x1F", "2024-10-01", "- item", "a: b", "#note", " lead", "trail "]


def definition(texts: list[str] | None = None) -> SurveyDefinition:
    texts = texts or TRICKY
    choices = [Choice(name=f"c{index}", label=Text(ja=text, en=text)) for index, text in enumerate(texts)]
    return SurveyDefinition(
        id="io-test",
        version="1.0",
        title=Text(ja="入出力テスト", en="I/O test"),
        description=Text(ja="1行目\n2行目\n", en="line 1\n\nline 3"),
        period=Period(opens=date(2024, 10, 1), closes=date(2024, 10, 31)),
        contacts=[Contact(topic=Text(ja="照会"), organisation=Text(ja="事務局"), phone="03-0000-0000")],
        choice_lists={"tricky": choices, "yes_no_like": [Choice(name="yes", label=Text(ja="はい"))]},
        sections=[
            Section(
                name="s1",
                label=Text(ja="第1節"),
                relevant="true()",
                questions=[
                    Question(
                        name="q1",
                        code="Q1-1",
                        type=QuestionType.YES_NO,
                        label=Text(ja="質問\n（改行あり）", en="Question"),
                        guidance=Guidance(
                            text=Text(ja="回答要領：\n  字下げ\n"),
                            references=[Reference(document=Text(ja="ガイドライン"), section="3.1")],
                        ),
                        required=True,
                    ),
                    Question(
                        name="q2",
                        type=QuestionType.SELECT_ONE,
                        choices="tricky",
                        label=Text(ja="選択"),
                        relevant="${q1} = 'yes'",
                    ),
                    Question(name="q3", type=QuestionType.DECIMAL, label=Text(ja="数"), minimum=0.0, maximum=1e20),
                    Question(name="q4", type=QuestionType.INTEGER, label=Text(ja="整数"), digits_only=True),
                ],
            )
        ],
        assumptions=[Assumption(question="q3", text=Text(ja="仮定"))],
    )


def codes(caught: pytest.ExceptionInfo[DefinitionError]) -> list[str]:
    return [problem.code for problem in caught.value.problems]


# --- dumps ----------------------------------------------------------------------------------------


def test_json_round_trip_is_exact() -> None:
    defn = definition()
    assert load_definition_bytes(dump_json(defn).encode(), "d.json") == defn


def test_yaml_round_trip_is_exact() -> None:
    defn = definition()
    assert load_definition_bytes(dump_yaml(defn).encode(), "d.yaml") == defn


def test_dumps_are_readable() -> None:
    defn = definition()
    as_json = dump_json(defn)
    data = json.loads(as_json)
    assert list(data)[:3] == ["format", "id", "version"]
    assert "入出力テスト" in as_json  # not \\u escaped
    question = data["sections"][0]["questions"][3]
    assert question == {"name": "q4", "type": "integer", "label": {"ja": "整数"}, "digits_only": True}
    assert dump_json(defn) == as_json  # stable
    as_yaml = dump_yaml(defn)
    assert as_yaml.startswith("format: datahealth-survey/1\nid: io-test\n")
    assert "入出力テスト" in as_yaml
    assert "ja: |-\n" in as_yaml or "ja: |\n" in as_yaml  # multi-line text as a block
    assert "required: false" not in as_yaml and "hint:" not in as_yaml
    assert yaml.safe_load(as_yaml) == data  # plain YAML readers see the same data


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_any_text_round_trips(texts: list[str]) -> None:
    defn = definition(texts)
    assert load_definition_bytes(dump_yaml(defn).encode(), "d.yml") == defn
    assert load_definition_bytes(dump_json(defn).encode(), "d.json") == defn


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".xlsx", ".JSON"])
def test_export_then_load_by_suffix(tmp_path: Path, suffix: str) -> None:
    defn = definition()
    path = tmp_path / f"survey{suffix}"
    export_definition(defn, path)
    assert load_definition(path) == defn
    assert load_definition_bytes(path.read_bytes(), path.name) == defn


def test_yaml_1_1_booleans_stay_strings(tmp_path: Path) -> None:
    text = """
id: hand-written
version: "1"
title: {ja: 手書き}
choice_lists:
  yn:
    - {name: yes, label: {ja: はい}}
    - {name: no, label: {ja: いいえ}}
sections:
  - name: s
    label: {ja: 節}
    questions:
      - {name: q, type: select_one, choices: yn, label: {ja: 問}, required: true}
period: {opens: 2024-10-01, closes: 2024-10-31}
"""
    path = tmp_path / "hand.yaml"
    path.write_text(text, encoding="utf-8")
    defn = load_definition(path)
    assert [choice.name for choice in defn.choice_lists["yn"]] == ["yes", "no"]
    assert defn.questions()[0].required is True
    assert defn.period == Period(opens=date(2024, 10, 1), closes=date(2024, 10, 31))


# --- read errors ------------------------------------------------------------------------------------


def test_random_bytes_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(random.Random(7).randbytes(2048))
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert codes(caught) == ["DH-D101"]
    assert caught.value.status == 422


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(b"id: x\nsections: [\n  - a: b\n  c", "bad.yaml")
    assert codes(caught) == ["DH-D101"]
    assert "line" in caught.value.messages("en")[0]


def test_invalid_json() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(b'{"id": "x",', "bad.json")
    assert codes(caught) == ["DH-D101"]
    assert "line 1" in caught.value.messages("en")[0]


def test_yaml_missing_sections_names_the_field() -> None:
    text = "id: x\nversion: '1'\ntitle: {ja: 題}\n"
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(text.encode(), "nosections.yaml")
    (problem,) = caught.value.problems
    assert problem.code == "DH-D101"
    assert problem.field == "sections"
    assert "sections" in problem.message("ja") and "sections" in problem.message("en")


def test_validation_errors_name_the_question() -> None:
    data = json.loads(dump_json(definition()))
    data["sections"][0]["questions"][1]["type"] = "slider"
    data["sections"][0]["questions"][2]["minimum"] = "many"
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(json.dumps(data).encode(), "d.json")
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"sections[0] (s1).questions[1] (q2).type", "sections[0] (s1).questions[2] (q3).minimum"}
    assert set(codes(caught)) == {"DH-D101"}


def test_model_level_errors_are_reported() -> None:
    data = json.loads(dump_json(definition()))
    data["sections"][0]["questions"][1]["name"] = "q1"
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(json.dumps(data).encode(), "d.json")
    assert codes(caught) == ["DH-D101"]
    assert "q1 is used twice" in caught.value.messages("en")[0]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"- just\n- a list\n", "list.yaml"),
        (b"", "empty.yml"),
        (b"\xff\xfe\x00bad", "latin.json"),
        (b"{}", "survey.csv"),
    ],
)
def test_unreadable_files(content: bytes, name: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition_bytes(content, name)
    assert codes(caught) == ["DH-D101"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(tmp_path / "nothing.yaml")
    assert codes(caught) == ["DH-D101"]


def test_export_to_an_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError):
        export_definition(definition(), tmp_path / "survey.txt")
    assert not (tmp_path / "survey.txt").exists()


def test_field_path_without_data() -> None:
    assert field_path(("sections", 0, "questions", 2, "type")) == "sections[0].questions[2].type"
    assert field_path(()) == ""


# --- the bundled survey ------------------------------------------------------------------------------


@pytest.mark.skipif(not BUNDLED.exists(), reason="the bundled FY2024 survey is not there yet")
def test_bundled_survey_round_trips_through_json_yaml_and_xlsx(tmp_path: Path) -> None:
    from datahealth.survey.definitions import load_bundled  # imported here: the bundled survey is optional

    defn = load_bundled("cyber-fy2024")
    assert load_definition(BUNDLED) == defn
    for suffix in (".json", ".yaml", ".xlsx"):
        path = tmp_path / f"cyber{suffix}"
        export_definition(defn, path)
        assert load_definition(path) == defn, suffix
