"""Answer rules: normalising forms, transitive relevance, pruning, validation and typed export."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.answers import (
    MAX_TEXT_LENGTH,
    check_answer,
    draft_problems,
    normalise_form,
    prune,
    prune_relevant,
    relevant_names,
    typed_value,
    validate_submission,
)
from datahealth.survey.model import (
    AnswerValue,
    Choice,
    Question,
    Section,
    SurveyDefinition,
    Text,
)

# --- factories ------------------------------------------------------------------------------------


def question(name: str, kind: str = "text", **fields: Any) -> Question:
    data: dict[str, Any] = {"name": name, "type": kind, "label": {"ja": f"{name} の質問"}}
    if kind in ("select_one", "select_multiple") and "choices" not in fields:
        data["choices"] = "colours"
    data.update(fields)
    return Question.model_validate(data)


def definition(*sections: Section | list[Question]) -> SurveyDefinition:
    built = [
        item if isinstance(item, Section) else Section(name=f"s{i}", label=Text(ja=f"第{i}部"), questions=item)
        for i, item in enumerate(sections, start=1)
    ]
    colours = [Choice(name=name, label=Text(ja=name)) for name in ("red", "green", "blue", "other")]
    return SurveyDefinition(
        id="test-survey",
        version="1",
        title=Text(ja="テスト調査"),
        choice_lists={"colours": colours},
        sections=built,
    )


def chain() -> SurveyDefinition:
    """a → b → c, like Q2-1 → Q2-2 → Q2-3, plus a note, and d outside the chain."""
    return definition(
        [
            question("a", "yes_no", code="Q2-1", required=True),
            question("b", "yes_no", code="Q2-2", required=True, relevant="${a} = 'yes'"),
            question("c", "select_multiple", code="Q2-3", required=True, relevant="${b} = 'yes'"),
            question("c_other", "text", relevant="selected(${c}, 'other')"),
            question("note", "note", relevant="${a} = 'no'"),
            question("d", "integer", code="Q3"),
        ]
    )


def codes(problems: list[Problem]) -> list[str]:
    return [problem.code for problem in problems]


# --- normalise_form -------------------------------------------------------------------------------


def test_normalise_strips_and_drops_empty() -> None:
    defn = chain()
    form: dict[str, str | list[str]] = {
        "a": "  yes ",
        "b": "   ",
        "d": "\u300013\u3000",  # full-width spaces around the digits
        "c_other": "",
        "csrf_token": "abc",
        "note": "hello",
        "unknown": "x",
    }
    assert normalise_form(defn, form) == {"a": "yes", "d": "13"}


def test_normalise_keeps_what_was_typed() -> None:
    defn = chain()
    assert normalise_form(defn, {"d": "１３"}) == {"d": "１３"}
    assert normalise_form(defn, {"d": "abc"}) == {"d": "abc"}


def test_normalise_select_multiple_is_a_list_in_choice_order() -> None:
    defn = chain()
    assert normalise_form(defn, {"c": ["blue", "red", "blue", " green "]}) == {"c": ["red", "green", "blue"]}
    assert normalise_form(defn, {"c": "blue red"}) == {"c": ["red", "blue"]}
    assert normalise_form(defn, {"c": "other"}) == {"c": ["other"]}
    assert normalise_form(defn, {"c": ["", " "]}) == {}
    assert normalise_form(defn, {"c": []}) == {}
    # Unknown names are kept (after the known ones) so validation can report them.
    assert normalise_form(defn, {"c": ["purple", "red"]}) == {"c": ["red", "purple"]}


def test_normalise_repeated_field_keeps_last_non_empty() -> None:
    defn = chain()
    assert normalise_form(defn, {"a": ["no", "yes"]}) == {"a": "yes"}
    assert normalise_form(defn, {"a": ["yes", ""]}) == {"a": "yes"}
    assert normalise_form(defn, {"a": []}) == {}


def test_normalise_only_named_questions() -> None:
    defn = chain()
    form: dict[str, str | list[str]] = {"a": "yes", "b": "no", "d": "1"}
    assert normalise_form(defn, form, names=["a", "d", "unknown"]) == {"a": "yes", "d": "1"}
    assert normalise_form(defn, form, names=iter(["b"])) == {"b": "no"}
    assert normalise_form(defn, form, names=[]) == {}


# --- relevance ------------------------------------------------------------------------------------


def test_relevance_is_transitive() -> None:
    defn = chain()
    everything: dict[str, AnswerValue] = {"a": "yes", "b": "yes", "c": ["other"], "c_other": "x", "d": "1"}
    assert relevant_names(defn, everything) == {"a", "b", "c", "c_other", "d"}
    # Q2-1 = no hides Q2-2 and, through it, Q2-3 and its "other" text, although they still hold answers.
    hidden = everything | {"a": "no"}
    assert relevant_names(defn, hidden) == {"a", "note", "d"}
    assert relevant_names(defn, everything | {"b": "no"}) == {"a", "b", "d"}
    assert relevant_names(defn, {}) == {"a", "d"}


def test_section_relevance_hides_its_questions() -> None:
    defn = definition(
        [question("has_vpn", "yes_no")],
        Section(
            name="vpn",
            label=Text(ja="VPN"),
            relevant="${has_vpn} = 'yes'",
            questions=[question("vendor", "text"), question("version", "text", relevant="${vendor} != ''")],
        ),
    )
    assert relevant_names(defn, {"vendor": "X"}) == {"has_vpn"}
    assert relevant_names(defn, {"has_vpn": "yes"}) == {"has_vpn", "vendor"}
    assert relevant_names(defn, {"has_vpn": "yes", "vendor": "X"}) == {"has_vpn", "vendor", "version"}


def test_relevance_sees_select_multiple_answers() -> None:
    defn = chain()
    answers: dict[str, AnswerValue] = {"a": "yes", "b": "yes", "c": ["red", "other"]}
    assert "c_other" in relevant_names(defn, answers)
    assert "c_other" not in relevant_names(defn, answers | {"c": ["red"]})


def test_broken_relevant_is_a_definition_error() -> None:
    defn = definition([question("a", "text"), question("b", "text", relevant="${a} = ")])
    with pytest.raises(DefinitionError) as caught:
        relevant_names(defn, {})
    assert caught.value.code == "DH-D103"


# --- prune ----------------------------------------------------------------------------------------


def test_prune_drops_hidden_unknown_note_and_empty_answers() -> None:
    defn = chain()
    answers: dict[str, AnswerValue] = {
        "a": "no",
        "b": "yes",
        "c": ["red"],
        "note": "x",
        "ghost": "boo",
        "d": "",
    }
    assert prune(defn, answers) == {"a": "no"}
    assert prune(defn, {"a": "yes", "b": "no", "c": ["red"], "d": "7"}) == {"a": "yes", "b": "no", "d": "7"}


def test_prune_does_not_share_lists() -> None:
    defn = chain()
    chosen = ["red"]
    pruned = prune(defn, {"a": "yes", "b": "yes", "c": chosen})
    pruned["c"].append("blue")  # type: ignore[union-attr]
    assert chosen == ["red"]


values = st.sampled_from(["yes", "no", "", " ", "other", "13"]) | st.lists(
    st.sampled_from(["red", "other", "", "yes"]), max_size=3
)
answer_dicts = st.dictionaries(st.sampled_from(["a", "b", "c", "c_other", "note", "d", "ghost"]), values)


def as_text(value: AnswerValue | None) -> str:
    """How an expression sees an answer: a list is its names joined by spaces."""
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


@given(answer_dicts)
def test_relevance_properties(answers: dict[str, AnswerValue]) -> None:
    defn = chain()
    relevant = relevant_names(defn, answers)
    # transitive: a question whose condition reads a hidden question is hidden
    assert {"a", "d"} <= relevant
    if "b" not in relevant:
        assert "c" not in relevant
    if "c" not in relevant:
        assert "c_other" not in relevant
    assert ("b" in relevant) == (as_text(answers.get("a")) == "yes")
    assert ("c" in relevant) == ("b" in relevant and as_text(answers.get("b")) == "yes")

    pruned = prune(defn, answers)
    assert set(pruned) <= relevant - {"note"}
    assert all(answers[name] == value for name, value in pruned.items())
    assert prune(defn, pruned) == pruned
    assert relevant_names(defn, pruned) == relevant


@given(answer_dicts)
def test_prune_relevant_is_prune_and_the_relevance_of_the_pruned_answers(answers: dict[str, AnswerValue]) -> None:
    defn = chain()
    pruned, relevant = prune_relevant(defn, answers)
    assert pruned == prune(defn, answers)
    assert relevant == relevant_names(defn, pruned)


def test_prune_relevant_evaluates_again_when_a_value_is_not_text() -> None:
    """A number (from an import) reads as "7" in a condition but is pruned: the relevance is the pruned answers'."""
    defn = definition([question("n", "integer"), question("m", "text", relevant="${n} > 5")])
    answers: dict[str, Any] = {"n": 7, "m": "x"}
    assert "m" in relevant_names(defn, answers)
    pruned, relevant = prune_relevant(defn, answers)
    assert pruned == prune(defn, answers) == {"m": "x"}  # pruned while "n" still counted
    assert relevant == relevant_names(defn, pruned)
    assert "m" not in relevant


@given(answer_dicts)
def test_validation_ignores_hidden_answers(answers: dict[str, AnswerValue]) -> None:
    defn = chain()
    assert validate_submission(defn, answers) == validate_submission(defn, prune(defn, answers))
    relevant = relevant_names(defn, answers)
    assert {problem.field for problem in validate_submission(defn, answers)} <= relevant


# --- check_answer ---------------------------------------------------------------------------------


def check(q: Question, value: AnswerValue, answers: dict[str, AnswerValue] | None = None) -> list[Problem]:
    return check_answer(definition([q]), q, value, answers or {q.name: value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13", []),
        ("-5", []),
        ("0013", []),
        ("１３", ["DH-S107"]),
        ("1３", ["DH-S107"]),
        ("13.0", ["DH-S103"]),
        ("1.5", ["DH-S103"]),
        ("+5", ["DH-S103"]),
        ("1,000", ["DH-S103"]),
        ("1e3", ["DH-S103"]),
        ("十三", ["DH-S103"]),
        ("١٣", ["DH-S103"]),
        ("abc", ["DH-S103"]),
        ("－13", ["DH-S103"]),
        ("   ", []),  # blank: nothing to check
    ],
)
def test_integer_format(value: str, expected: list[str]) -> None:
    assert codes(check(question("beds", "integer", code="Q1-1"), value)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", []),
        ("-0.25", []),
        (".5", []),
        ("2", []),
        ("１.５", ["DH-S107"]),
        ("1.5.1", ["DH-S104"]),
        ("1,5", ["DH-S104"]),
        ("NaN", ["DH-S104"]),
        ("Infinity", ["DH-S104"]),
        ("1e2", ["DH-S104"]),
    ],
)
def test_decimal_format(value: str, expected: list[str]) -> None:
    assert codes(check(question("ratio", "decimal"), value)) == expected


def test_full_width_problem_names_question_and_value() -> None:
    problem = check(question("pw_len", "integer", code="Q13", digits_only=True), "１３")[0]
    assert problem == Problem("DH-S107", {"value": "１３"}, question="Q13", field="pw_len")
    assert "Q13" in problem.message("ja") and "１３" in problem.message("ja")


def test_bounds() -> None:
    both = question("pw_len", "integer", code="Q13", minimum=1, maximum=99)
    assert check(both, "99") == []
    assert check(both, "1") == []
    problem = check(both, "100")[0]
    assert problem == Problem(
        "DH-S105", {"value": "100", "minimum": "1", "maximum": "99"}, question="Q13", field="pw_len"
    )
    assert "1 以上 99 以下" in problem.message("ja")
    assert codes(check(both, "0")) == ["DH-S105"]
    assert codes(check(both, "-1")) == ["DH-S105"]
    assert codes(check(both, "9" * 400)) == ["DH-S105"]


def test_one_sided_bounds_have_their_own_messages() -> None:
    at_least = check(question("beds", "integer", minimum=0), "-1")[0]
    assert at_least.code == "DH-S110"
    assert at_least.params == {"value": "-1", "minimum": "0"}
    at_most = check(question("share", "decimal", maximum=0.5), "0.75")[0]
    assert at_most.code == "DH-S111"
    assert at_most.params == {"value": "0.75", "maximum": "0.5"}
    assert "{" not in at_least.message("en") + at_most.message("ja")


def test_decimal_bounds_render_without_trailing_zero() -> None:
    q = question("ratio", "decimal", minimum=0, maximum=1.5)
    assert check(q, "1.5") == []
    assert check(q, "1.51")[0].params == {"value": "1.51", "minimum": "0", "maximum": "1.5"}


def test_choices() -> None:
    yes_no = question("a", "yes_no")
    assert check(yes_no, "yes") == []
    assert check(yes_no, "no") == []
    assert check(yes_no, "Yes")[0] == Problem("DH-S106", {"value": "Yes"}, question="a", field="a")
    assert codes(check(yes_no, "はい")) == ["DH-S106"]
    assert codes(check(yes_no, ["yes"])) == ["DH-S106"]
    one = question("colour", "select_one")
    assert check(one, "green") == []
    assert codes(check(one, "purple")) == ["DH-S106"]
    many = question("colours", "select_multiple")
    assert check(many, ["red", "blue"]) == []
    assert check(many, "red blue") == []
    assert check(many, ["red", "purple", "pink"])[0].params == {"value": "purple pink"}


def test_text_length() -> None:
    q = question("memo", "text")
    assert check(q, "あ" * MAX_TEXT_LENGTH) == []
    problem = check(q, "あ" * (MAX_TEXT_LENGTH + 1))[0]
    assert problem.code == "DH-S108"
    assert problem.params["maximum"] == MAX_TEXT_LENGTH
    assert "value" in problem.params
    assert codes(check(question("n", "integer"), "1" * (MAX_TEXT_LENGTH + 1))) == ["DH-S108"]


def test_digits_only_text() -> None:
    q = question("code", "text", digits_only=True)
    assert check(q, "0123456") == []
    assert codes(check(q, "０１２３")) == ["DH-S107"]
    assert codes(check(q, "12-34")) == ["DH-S103"]
    assert check(question("free", "text"), "１２３") == []


def test_constraint_default_message() -> None:
    q = question("pw_len", "integer", code="Q13", constraint=". >= 8")
    assert check(q, "13") == []
    problem = check(q, "6")[0]
    assert problem == Problem(
        "DH-S102",
        {
            "message_ja": "回答が条件を満たしていません。",
            "message_en": "The answer does not meet the condition.",
            "value": "6",
        },
        question="Q13",
        field="pw_len",
    )


def test_constraint_custom_message_and_other_answers() -> None:
    q = question(
        "used",
        "integer",
        constraint=". <= ${total}",
        constraint_message=Text(ja="総数以下にしてください。"),
    )
    defn = definition([question("total", "integer"), q])
    assert check_answer(defn, q, "5", {"total": "10", "used": "5"}) == []
    problem = check_answer(defn, q, "11", {"total": "10", "used": "11"})[0]
    assert problem.params["message_ja"] == "総数以下にしてください。"
    assert problem.params["message_en"] == "総数以下にしてください。"  # English falls back to Japanese
    assert problem.message("ja") == "used：総数以下にしてください。"


def test_constraint_sees_select_multiple_as_current() -> None:
    q = question("colours", "select_multiple", constraint="not(selected(., 'other')) or count-selected(.) = 1")
    assert check(q, ["other"]) == []
    assert codes(check(q, ["red", "other"])) == ["DH-S102"]


def test_constraint_not_run_on_badly_formatted_answer() -> None:
    q = question("n", "integer", constraint=". > 100")
    assert codes(check(q, "１")) == ["DH-S107"]


def test_broken_constraint_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError) as caught:
        check(question("n", "integer", constraint=". >>> 1"), "1")
    assert caught.value.code == "DH-D103"


def test_notes_have_nothing_to_check() -> None:
    assert check(question("n", "note"), "anything") == []


# --- validate_submission / draft_problems ---------------------------------------------------------


def test_required_only_when_relevant() -> None:
    defn = chain()
    assert codes(validate_submission(defn, {})) == ["DH-S101"]
    assert validate_submission(defn, {})[0] == Problem("DH-S101", {}, question="Q2-1", field="a")
    assert validate_submission(defn, {"a": "no"}) == []
    assert [p.field for p in validate_submission(defn, {"a": "yes"})] == ["b"]
    assert [p.field for p in validate_submission(defn, {"a": "yes", "b": "yes"})] == ["c"]
    assert validate_submission(defn, {"a": "yes", "b": "yes", "c": ["red"]}) == []


def test_whitespace_only_counts_as_missing() -> None:
    defn = chain()
    assert codes(validate_submission(defn, {"a": "  "})) == ["DH-S101"]
    assert codes(validate_submission(defn, {"a": "yes", "b": "yes", "c": [" "]})) == ["DH-S101"]


def test_problems_in_document_order() -> None:
    defn = chain()
    answers: dict[str, AnswerValue] = {"a": "yes", "b": "maybe", "d": "１"}
    problems = validate_submission(defn, answers)
    assert [(p.code, p.question) for p in problems] == [("DH-S106", "Q2-2"), ("DH-S107", "Q3")]


def test_every_message_renders_completely() -> None:
    defn = definition(
        [
            question("i", "integer", code="Q1", minimum=1, maximum=9, required=True),
            question("j", "integer", code="Q2", minimum=1, constraint=". != 5"),
            question("k", "decimal", code="Q3", maximum=1),
            question("s", "select_multiple", code="Q4"),
            question("t", "text", code="Q5", digits_only=True),
            question("u", "text", code="Q6", required=True),
            question("v", "text", code="Q7"),
        ]
    )
    answers: dict[str, AnswerValue] = {
        "i": "10",
        "j": "5",
        "k": "2",
        "s": ["pink"],
        "t": "１",
        "v": "x" * (MAX_TEXT_LENGTH + 1),
    }
    problems = validate_submission(defn, answers)
    assert codes(problems) == ["DH-S105", "DH-S102", "DH-S111", "DH-S106", "DH-S107", "DH-S101", "DH-S108"]
    for problem in problems:
        for lang in ("ja", "en"):
            text = problem.message(lang)
            assert "{" not in text and problem.question is not None and problem.question in text


def test_hidden_answers_are_not_validated() -> None:
    defn = chain()
    answers: dict[str, AnswerValue] = {"a": "no", "b": "garbage", "c": ["purple"], "ghost": "x"}
    assert validate_submission(defn, answers) == []


def test_draft_problems_skip_required() -> None:
    defn = chain()
    assert draft_problems(defn, {}) == []
    assert codes(draft_problems(defn, {"a": "yes", "b": "maybe"})) == ["DH-S106"]


# --- typed_value ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", "13", 13),
        ("integer", "-0013", -13),
        ("integer", "１３", "１３"),
        ("integer", "1.5", "1.5"),
        ("decimal", "1.5", 1.5),
        ("decimal", "2", 2.0),
        ("decimal", "abc", "abc"),
        ("text", "13", "13"),
        ("yes_no", "yes", "yes"),
        ("select_multiple", ["red", "blue"], ["red", "blue"]),
        ("integer", None, None),
    ],
)
def test_typed_value(kind: str, value: AnswerValue | None, expected: object) -> None:
    result = typed_value(question("q", kind), value)
    assert result == expected
    assert type(result) is type(expected)
