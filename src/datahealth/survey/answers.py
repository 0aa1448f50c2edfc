"""Answer rules: normalising posted forms, relevance, pruning and validation. The server is the authority.

Answers are stored exactly as typed (``str``) or as the chosen names of a select_multiple
(``list[str]``). Relevance is evaluated in document order against the answers of questions that are
themselves relevant, so hiding a question also hides everything that depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.expressions import (
    Expression,
    ExpressionError,
    evaluate_bool,
    format_number,
    parse,
)
from datahealth.survey.model import Answers, AnswerValue, Question, QuestionType, SurveyDefinition

MAX_TEXT_LENGTH = 2000
"""The longest answer accepted, in characters (DH-S108)."""

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DIGITS = re.compile(r"[0-9]+")
_FULL_WIDTH_DIGITS = frozenset("０１２３４５６７８９")
_CHOICE_TYPES = (QuestionType.YES_NO, QuestionType.SELECT_ONE)
_DEFAULT_CONSTRAINT_MESSAGE = ("回答が条件を満たしていません。", "The answer does not meet the condition.")


# --- normalising posted forms ---------------------------------------------------------------------


def normalise_form(
    defn: SurveyDefinition,
    form: Mapping[str, str | list[str]],
    names: Iterable[str] | None = None,
) -> Answers:
    """Answers from posted form fields: the definition's questions only (only ``names`` if given).

    Strings are stripped and empty ones dropped; a field posted several times keeps its last
    non-empty value; select_multiple becomes a de-duplicated list in the definition's choice order
    (unknown names follow, so validation can report them); notes are never stored.
    """
    wanted = None if names is None else set(names)
    answers: Answers = {}
    for question in defn.questions():
        if not question.answerable or question.name not in form:
            continue
        if wanted is not None and question.name not in wanted:
            continue
        raw = form[question.name]
        if question.type == QuestionType.SELECT_MULTIPLE:
            chosen = _normalise_selection(defn, question, raw)
            if chosen:
                answers[question.name] = chosen
        else:
            text = _last_non_empty(raw)
            if text:
                answers[question.name] = text
    return answers


def _last_non_empty(raw: str | list[str]) -> str:
    items = [raw] if isinstance(raw, str) else raw
    for item in reversed(items):
        if isinstance(item, str) and item.strip():
            return item.strip()
    return ""


def _normalise_selection(defn: SurveyDefinition, question: Question, raw: str | list[str]) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    picked: list[str] = []
    for item in items:
        if isinstance(item, str):
            # Choice names contain no spaces, so "a b" (XLSForm style) is two choices.
            picked.extend(name for name in item.split() if name not in picked)
    order = [choice.name for choice in defn.choices_for(question)]
    known = [name for name in order if name in picked]
    return known + [name for name in picked if name not in order]


# --- relevance ------------------------------------------------------------------------------------


def relevant_names(defn: SurveyDefinition, answers: Mapping[str, AnswerValue]) -> set[str]:
    """Names of the questions (notes included) whose section and own ``relevant`` hold.

    Conditions see only the answers of earlier relevant questions; a non-relevant question counts
    as unanswered, which makes relevance transitive.
    """
    relevant: set[str] = set()
    visible: dict[str, AnswerValue] = {}
    for section in defn.sections:
        if not _holds(section.relevant, visible, section.name):
            continue
        for question in section.questions:
            if not _holds(question.relevant, visible, question.display_code):
                continue
            relevant.add(question.name)
            if question.answerable and question.name in answers:
                visible[question.name] = answers[question.name]
    return relevant


def _holds(source: str | None, values: Mapping[str, AnswerValue], owner: str) -> bool:
    if source is None or not source.strip():
        return True
    expr = _compiled(source, owner, "relevant")
    try:
        return evaluate_bool(expr, values)
    except ExpressionError as exc:
        raise _definition_error(source, owner, "relevant", exc) from exc


def _compiled(source: str, owner: str, column: str) -> Expression:
    try:
        return parse(source)
    except ExpressionError as exc:
        raise _definition_error(source, owner, column, exc) from exc


def _definition_error(source: str, owner: str, column: str, exc: ExpressionError) -> DefinitionError:
    params = {"expression": source, "detail": str(exc)}
    return DefinitionError(Problem("DH-D103", params, question=owner, field=column))


def prune(defn: SurveyDefinition, answers: Mapping[str, AnswerValue]) -> Answers:
    """What the server saves: relevant, known, answerable questions only, empty values dropped."""
    return _keep_only(defn, answers, relevant_names(defn, answers))


def prune_relevant(defn: SurveyDefinition, answers: Mapping[str, AnswerValue]) -> tuple[Answers, set[str]]:
    """``prune`` and the relevance of what it keeps (``relevant_names(defn, pruned)``), evaluated once if it can be.

    Pruning drops the non-relevant answers, which conditions already read as unanswered, and the empty ones (``""``,
    a list of nothing), which read as ``""`` like an unanswered question: the pruned answers have the relevance the
    answers had. That holds when every value is a string or a list of strings (what forms and saves produce); for
    anything else (a number from an import) the relevance is evaluated again on the pruned answers.
    """
    relevant = relevant_names(defn, answers)
    pruned = _keep_only(defn, answers, relevant)
    if all(_is_text(value) for value in answers.values()):
        return pruned, relevant
    return pruned, relevant_names(defn, pruned)


def _is_text(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def _keep_only(defn: SurveyDefinition, answers: Mapping[str, AnswerValue], keep: set[str]) -> Answers:
    pruned: Answers = {}
    for question in defn.questions():
        if not question.answerable or question.name not in keep or question.name not in answers:
            continue
        value = answers[question.name]
        if isinstance(value, str) and value != "":
            pruned[question.name] = value
        elif isinstance(value, list) and " ".join(value) != "":
            pruned[question.name] = list(value)
    return pruned


# --- validation -----------------------------------------------------------------------------------


def validate_submission(defn: SurveyDefinition, answers: Mapping[str, AnswerValue]) -> list[Problem]:
    """Problems that block submission: every relevant question, in document order."""
    return _problems(defn, answers, required=True)


def draft_problems(
    defn: SurveyDefinition, answers: Mapping[str, AnswerValue], relevant: set[str] | None = None
) -> list[Problem]:
    """Inline feedback while drafting: like ``validate_submission`` without "required".

    ``relevant``: ``relevant_names(defn, answers)`` when the caller has it already (a save needs it too).
    """
    return _problems(defn, answers, required=False, relevant=relevant)


def _problems(
    defn: SurveyDefinition, answers: Mapping[str, AnswerValue], *, required: bool, relevant: set[str] | None = None
) -> list[Problem]:
    keep = relevant_names(defn, answers) if relevant is None else relevant
    effective = _keep_only(defn, answers, keep)
    problems: list[Problem] = []
    for question in defn.questions():
        if not question.answerable or question.name not in keep:
            continue
        value = effective.get(question.name)
        if value is None or _is_blank(value):
            if required and question.required:
                problems.append(_problem("DH-S101", question))
            continue
        problems.extend(check_answer(defn, question, value, effective))
    return problems


def _is_blank(value: AnswerValue) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return not any(isinstance(item, str) and item.strip() for item in value)


def check_answer(
    defn: SurveyDefinition,
    question: Question,
    value: AnswerValue,
    answers: Mapping[str, AnswerValue],
) -> list[Problem]:
    """Format checks for one present answer, then its ``constraint`` (with ``.`` = ``value``).

    A blank value has nothing to check (whether it is required is the caller's rule).
    """
    if not question.answerable or _is_blank(value):
        return []
    problems = _format_problems(defn, question, value)
    if problems or question.constraint is None or not question.constraint.strip():
        return problems
    expr = _compiled(question.constraint, question.display_code, "constraint")
    try:
        holds = evaluate_bool(expr, answers, current=value)
    except ExpressionError as exc:
        raise _definition_error(question.constraint, question.display_code, "constraint", exc) from exc
    if holds:
        return []
    message = question.constraint_message
    message_ja = message.ja if message is not None else _DEFAULT_CONSTRAINT_MESSAGE[0]
    message_en = message.get("en") if message is not None else _DEFAULT_CONSTRAINT_MESSAGE[1]
    params = {"message_ja": message_ja, "message_en": message_en, "value": _as_text(value)}
    return [_problem("DH-S102", question, **params)]


def _format_problems(defn: SurveyDefinition, question: Question, value: AnswerValue) -> list[Problem]:
    text = _as_text(value)
    if len(text) > MAX_TEXT_LENGTH:
        return [_problem("DH-S108", question, maximum=MAX_TEXT_LENGTH, value=text[:100] + "…")]
    kind = question.type
    if kind == QuestionType.INTEGER:
        return _number_problems(question, text, _INTEGER, "DH-S103")
    if kind == QuestionType.DECIMAL:
        return _number_problems(question, text, _DECIMAL, "DH-S104")
    if kind in _CHOICE_TYPES:
        names = {choice.name for choice in defn.choices_for(question)}
        if isinstance(value, list) or value.strip() not in names:
            return [_problem("DH-S106", question, value=text)]
        return []
    if kind == QuestionType.SELECT_MULTIPLE:
        names = {choice.name for choice in defn.choices_for(question)}
        chosen = value.split() if isinstance(value, str) else [item.strip() for item in value]
        unknown = [name for name in chosen if name not in names]
        if unknown:
            return [_problem("DH-S106", question, value=" ".join(unknown))]
        return []
    if question.digits_only:  # a text answer such as a code that must be half-width digits
        if _has_full_width_digit(text):
            return [_problem("DH-S107", question, value=text)]
        if not _DIGITS.fullmatch(text.strip()):
            return [_problem("DH-S103", question, value=text)]
    return []


def _number_problems(question: Question, text: str, pattern: re.Pattern[str], code: str) -> list[Problem]:
    if _has_full_width_digit(text):
        return [_problem("DH-S107", question, value=text)]
    if not pattern.fullmatch(text.strip()):
        return [_problem(code, question, value=text)]
    number = _to_number(question, text.strip())
    low, high = question.minimum, question.maximum
    if (low is None or number >= low) and (high is None or number <= high):
        return []
    bounds = {"value": text}
    if low is not None:
        bounds["minimum"] = format_number(low)
    if high is not None:
        bounds["maximum"] = format_number(high)
    code = "DH-S105" if low is not None and high is not None else "DH-S110" if low is not None else "DH-S111"
    return [_problem(code, question, **bounds)]


def _to_number(question: Question, text: str) -> int | float:
    return int(text) if question.type == QuestionType.INTEGER else float(text)


def _has_full_width_digit(text: str) -> bool:
    return any(ch in _FULL_WIDTH_DIGITS for ch in text)


def _as_text(value: AnswerValue) -> str:
    return value if isinstance(value, str) else " ".join(value)


def _problem(code: str, question: Question, **params: Any) -> Problem:
    return Problem(code, params, question=question.display_code, field=question.name)


# --- export ---------------------------------------------------------------------------------------


def typed_value(question: Question, value: AnswerValue | None) -> str | int | float | list[str] | None:
    """An answer for export: ``int`` for a valid integer, ``float`` for a valid decimal, else as stored."""
    if value is None:
        return None
    if isinstance(value, list):
        return list(value)
    text = value.strip()
    if question.type == QuestionType.INTEGER and len(text) <= MAX_TEXT_LENGTH and _INTEGER.fullmatch(text):
        return int(text)
    if question.type == QuestionType.DECIMAL and len(text) <= MAX_TEXT_LENGTH and _DECIMAL.fullmatch(text):
        return float(text)
    return value
