"""Presentation helpers: turn a definition + answers into what templates show. No business rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from datahealth.errors import Problem
from datahealth.survey.model import Answers, AnswerValue, Question, QuestionType, Section, SurveyDefinition


@dataclass
class QuestionView:
    question: Question
    value: AnswerValue | None
    relevant: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.question.name


MAX_FORM_FIELDS = 1000
"""As Starlette's form parser: more fields than this is a 400."""
MAX_FAST_FORM_BYTES = 1024 * 1024
"""Starlette refuses a field over 1 MB; a body up to this size cannot hold one, a larger body goes to Starlette."""


async def posted_form(request: Request) -> FormData:
    """The posted form. URL-encoded bodies (the survey's forms and autosaves) are parsed by the standard library,
    several times faster than the general parser, with Starlette's decoding rules (bytes as Latin-1, then
    percent-escapes as UTF-8); anything else, or too many fields, goes to Starlette's parser as before.
    """
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = await request.body()
        if len(body) > MAX_FAST_FORM_BYTES:
            return await request.form()  # Starlette's limits apply (a field over 1 MB is a 400)
        try:
            fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        except ValueError:
            return await request.form()  # too many fields: Starlette's parser answers 400
        items: list[tuple[str, str | UploadFile]] = list(fields)
        return FormData(items)
    return await request.form()


def form_values(form: FormData, defn: SurveyDefinition) -> dict[str, str | list[str]]:
    """Posted values by question name; multiple choice keeps every ticked box."""
    values: dict[str, str | list[str]] = {}
    for question in defn.questions():
        if question.type == QuestionType.SELECT_MULTIPLE:
            values[question.name] = [v for v in form.getlist(question.name) if isinstance(v, str)]
        else:
            raw = form.get(question.name)
            if isinstance(raw, str):
                values[question.name] = raw
    return values


def shown_names(form: FormData, defn: SurveyDefinition, section: Section) -> list[str]:
    """The questions the page showed (their hidden ``_shown`` markers): those values are authoritative."""
    in_section = {q.name for q in section.questions if q.answerable}
    return [v for v in form.getlist("_shown") if isinstance(v, str) and v in in_section]


def section_views(
    defn: SurveyDefinition, section: Section, answers: Answers, relevant: set[str], problems: list[Problem]
) -> list[QuestionView]:
    by_field: dict[str, list[Problem]] = {}
    for problem in problems:
        if problem.field:
            by_field.setdefault(problem.field, []).append(problem)
    return [
        QuestionView(q, answers.get(q.name), q.name in relevant, by_field.get(q.name, [])) for q in section.questions
    ]


def answer_label(defn: SurveyDefinition, question: Question, value: AnswerValue | None, lang: str) -> str:
    """How an answer reads on the review page and receipts."""
    if value is None or value == "" or value == []:
        return ""
    choices = {c.name: c.label.get(lang) for c in defn.choices_for(question)}
    if isinstance(value, list):
        return (
            "、".join(choices.get(v, v) for v in value) if lang == "ja" else ", ".join(choices.get(v, v) for v in value)
        )
    if choices:
        return choices.get(value, value)
    return value


def section_index(defn: SurveyDefinition, name: str) -> int:
    for index, section in enumerate(defn.sections):
        if section.name == name:
            return index
    return -1
