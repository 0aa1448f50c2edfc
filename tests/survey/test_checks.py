"""Static checks of a definition's expressions (DH-D103/D104/D106/D107)."""

from __future__ import annotations

from typing import Any

import pytest

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.checks import check_definition, ensure_valid_definition
from datahealth.survey.definitions import bundled_ids, load_bundled
from datahealth.survey.model import Choice, Question, Section, SurveyDefinition, Text


def question(name: str, kind: str = "text", **fields: Any) -> Question:
    data: dict[str, Any] = {"name": name, "type": kind, "label": {"ja": name}}
    if kind in ("select_one", "select_multiple"):
        data["choices"] = "systems"
    data.update(fields)
    return Question.model_validate(data)


def definition(*questions: Question, section_relevant: str | None = None) -> SurveyDefinition:
    """Section one holds ``a`` (yes_no) and ``m`` (select_multiple); section two holds ``questions``."""
    systems = [Choice(name=name, label=Text(ja=name)) for name in ("emr", "pacs", "other")]
    first = Section(
        name="basics",
        label=Text(ja="基本"),
        questions=[question("a", "yes_no"), question("m", "select_multiple")],
    )
    second = Section(name="more", label=Text(ja="詳細"), relevant=section_relevant, questions=list(questions))
    return SurveyDefinition(
        id="checks",
        version="1",
        title=Text(ja="検査"),
        choice_lists={"systems": systems},
        sections=[first, second],
    )


def codes(defn: SurveyDefinition) -> list[str]:
    return [problem.code for problem in check_definition(defn)]


def test_valid_definition_has_no_problems() -> None:
    defn = definition(
        question("b", "yes_no", relevant="${a} = 'yes' and selected(${m}, 'pacs')"),
        question(
            "c",
            "integer",
            code="Q3",
            relevant="${b} != '' or count-selected(${m}) > 1",
            constraint=". >= 0 and . <= ${c} + ${d}",
        ),  # constraints may read any question, even later ones
        question("d", "integer", constraint="string-length(.) < 5"),
        section_relevant="${a} = 'yes'",
    )
    assert check_definition(defn) == []
    ensure_valid_definition(defn)


@pytest.mark.parametrize("survey_id", bundled_ids())
def test_bundled_definitions_are_valid(survey_id: str) -> None:
    assert check_definition(load_bundled(survey_id)) == []


@pytest.mark.parametrize("column", ["relevant", "constraint"])
def test_syntax_error_is_d103(column: str) -> None:
    defn = definition(question("b", "integer", code="Q9", **{column: "${a} = 'yes"}))
    problems = check_definition(defn)
    assert [p.code for p in problems] == ["DH-D103"]
    assert problems[0].question == "Q9"
    assert problems[0].field == column
    assert problems[0].params["expression"] == "${a} = 'yes"
    assert "position" in problems[0].params["detail"]
    assert "Q9" in problems[0].message("ja")


def test_unknown_function_is_d103() -> None:
    assert codes(definition(question("b", relevant="regex(${a}, 'y.*')"))) == ["DH-D103"]


def test_current_in_relevant_is_d103() -> None:
    assert codes(definition(question("b", relevant=". = 'yes'"))) == ["DH-D103"]
    assert codes(definition(question("b"), section_relevant=". = 'yes'")) == ["DH-D103"]
    assert codes(definition(question("b", constraint=". != 'x'"))) == []


def test_unknown_reference_is_d104() -> None:
    defn = definition(question("b", relevant="${nope} = 'yes'", constraint=". = ${also_nope}"))
    problems = check_definition(defn)
    assert [(p.code, p.field, p.params["reference"]) for p in problems] == [
        ("DH-D104", "relevant", "nope"),
        ("DH-D104", "constraint", "also_nope"),
    ]


def test_self_and_forward_references_in_relevant_are_d106() -> None:
    defn = definition(
        question("b", relevant="${b} = 'x'"),
        question("c", relevant="${d} = 'x'"),
        question("d"),
    )
    problems = check_definition(defn)
    assert [(p.code, p.field, p.params["reference"]) for p in problems] == [
        ("DH-D106", "relevant", "b"),
        ("DH-D106", "relevant", "d"),
    ]


def test_section_relevant_may_only_read_earlier_sections() -> None:
    assert codes(definition(question("b"), section_relevant="${a} = 'yes'")) == []
    problems = check_definition(definition(question("b"), section_relevant="${b} = 'x'"))
    assert [(p.code, p.question, p.field) for p in problems] == [("DH-D106", "more", "relevant")]


def test_unknown_choice_is_d107() -> None:
    defn = definition(
        question("b", relevant="${a} = 'Yes'"),
        question("c", relevant="selected(${m}, 'PACS')"),
        question("d", relevant="${a} != ''"),  # "unanswered" idiom is fine
        question("e", relevant="${m} = 'emr pacs'"),  # whole-answer comparison of a select_multiple
        question("f", relevant="${b} = 'anything'"),  # text answers may be compared with any text
        question("g", constraint="selected(${m}, 'xray') or . = 'x'"),
    )
    problems = check_definition(defn)
    assert [(p.code, p.question, p.params["reference"], p.params["value"]) for p in problems] == [
        ("DH-D107", "b", "a", "Yes"),
        ("DH-D107", "c", "m", "PACS"),
        ("DH-D107", "g", "m", "xray"),
    ]


def test_ensure_valid_definition_raises_with_every_problem() -> None:
    defn = definition(question("b", relevant="${zzz} = 1 and ${c} = 1"), question("c", constraint="(("))
    with pytest.raises(DefinitionError) as caught:
        ensure_valid_definition(defn)
    assert [p.code for p in caught.value.problems] == ["DH-D106", "DH-D104", "DH-D103"]
    assert caught.value.status == 422
    assert all(isinstance(p, Problem) for p in caught.value.problems)
