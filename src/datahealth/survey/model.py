"""The survey definition model: a survey is data.

A definition follows XLSForm (ODK/Kobo) closely so that it round-trips through an ``.xlsx``
XLSForm: each question has an XLSForm ``name`` (a valid XML name such as ``q2_1``), a ``type``,
bilingual labels, an optional ``relevant`` and ``constraint`` expression in XLSForm syntax, and
``required``. On top of XLSForm it carries what a ministry survey needs: the printed question code
(``Q2-1``), the answer guidance (回答要領) with guideline references, the period, the contacts and
the documented assumptions made where the source document is silent.

The same model is stored as JSON in the database and bundled as YAML in ``definitions/``.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Text(BaseModel):
    """A bilingual text. Japanese is required; English falls back to Japanese when empty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ja: str
    en: str = ""

    def get(self, lang: str) -> str:
        if lang == "en" and self.en:
            return self.en
        return self.ja


class QuestionType(StrEnum):
    YES_NO = "yes_no"
    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    INTEGER = "integer"
    DECIMAL = "decimal"
    TEXT = "text"
    NOTE = "note"


class Choice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: Text

    @field_validator("name")
    @classmethod
    def _name_has_no_space(cls, value: str) -> str:
        # select_multiple answers are space-separated in XLSForm, so a choice name may not contain one.
        if not value or any(ch.isspace() for ch in value):
            raise ValueError(f"choice name {value!r} must be non-empty and contain no spaces")
        return value


class Reference(BaseModel):
    """A guideline passage a question's guidance cites, e.g. 経営管理編 3.1.2 ②."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document: Text
    section: str = ""
    text: Text | None = None
    url: str = ""


class Guidance(BaseModel):
    """The 回答要領 of one question: what to answer and why, with the guideline passages it cites."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: Text
    references: list[Reference] = Field(default_factory=list)


class Question(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    code: str = ""
    type: QuestionType
    label: Text
    hint: Text | None = None
    guidance: Guidance | None = None
    choices: str | None = None
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: Text | None = None
    required: bool = False
    required_message: Text | None = None
    minimum: float | None = None
    maximum: float | None = None
    digits_only: bool = False
    """Integer answers must be typed as half-width ASCII digits (全角数字は不可)."""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"question name {value!r} must match {NAME_PATTERN.pattern}")
        return value

    @model_validator(mode="after")
    def _choices_match_type(self) -> Question:
        needs_list = self.type in (QuestionType.SELECT_ONE, QuestionType.SELECT_MULTIPLE)
        if needs_list and not self.choices:
            raise ValueError(f"question {self.name}: {self.type} needs a choice list")
        if not needs_list and self.choices:
            raise ValueError(f"question {self.name}: {self.type} takes no choice list")
        if (self.minimum is not None or self.maximum is not None) and self.type not in (
            QuestionType.INTEGER,
            QuestionType.DECIMAL,
        ):
            raise ValueError(f"question {self.name}: bounds apply to integer and decimal only")
        if self.type == QuestionType.NOTE and self.required:
            raise ValueError(f"question {self.name}: a note cannot be required")
        return self

    @property
    def display_code(self) -> str:
        return self.code or self.name

    @property
    def answerable(self) -> bool:
        return self.type != QuestionType.NOTE


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: Text
    relevant: str | None = None
    questions: list[Question]

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"section name {value!r} must match {NAME_PATTERN.pattern}")
        return value


class Period(BaseModel):
    """The answering period, inclusive of both days, in Japan Standard Time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: date
    closes: date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.closes < self.opens:
            raise ValueError("period closes before it opens")
        return self


class Contact(BaseModel):
    """An inquiry desk (照会先)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: Text
    organisation: Text
    people: Text | None = None
    phone: str = ""
    hours: Text | None = None
    note: Text | None = None


class Assumption(BaseModel):
    """A choice the platform made where the source document is silent, recorded with the definition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    text: Text


class SurveyDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["datahealth-survey/1"] = "datahealth-survey/1"
    id: str
    version: str
    title: Text
    description: Text | None = None
    default_language: Literal["ja", "en"] = "ja"
    period: Period | None = None
    contacts: list[Contact] = Field(default_factory=list)
    faq: Text | None = None
    source: Text | None = None
    choice_lists: dict[str, list[Choice]] = Field(default_factory=dict)
    sections: list[Section]
    assumptions: list[Assumption] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", value):
            raise ValueError(f"survey id {value!r} may hold letters, digits, '_', '.', '-' only")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SurveyDefinition:
        seen: set[str] = set()
        for section in self.sections:
            for question in section.questions:
                if question.name in seen:
                    raise ValueError(f"question name {question.name} is used twice")
                seen.add(question.name)
                if question.choices and question.choices not in self.choice_lists:
                    raise ValueError(f"question {question.name}: unknown choice list {question.choices}")
        for list_name, choices in self.choice_lists.items():
            names = [choice.name for choice in choices]
            if len(names) != len(set(names)):
                raise ValueError(f"choice list {list_name} repeats a choice name")
        return self

    # --- lookups -------------------------------------------------------------------------------

    def questions(self) -> list[Question]:
        return [question for section in self.sections for question in section.questions]

    def question(self, name: str) -> Question:
        for question in self.questions():
            if question.name == name:
                return question
        raise KeyError(name)

    def section_of(self, name: str) -> Section:
        for section in self.sections:
            if any(question.name == name for question in section.questions):
                return section
        raise KeyError(name)

    def choices_for(self, question: Question) -> list[Choice]:
        if question.type == QuestionType.YES_NO:
            return YES_NO_CHOICES
        if question.choices is None:
            return []
        return self.choice_lists[question.choices]


YES_NO_CHOICES: list[Choice] = [
    Choice(name="yes", label=Text(ja="はい", en="Yes")),
    Choice(name="no", label=Text(ja="いいえ", en="No")),
]

AnswerValue = str | list[str]
"""One answer as stored: exactly as the person typed it (``str``), or the chosen names of a
select_multiple (``list[str]``). Drafts keep what was typed even when it is not yet valid, so nothing
is lost; typing (int/float) happens in validation and export."""

Answers = dict[str, AnswerValue]
