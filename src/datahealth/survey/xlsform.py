"""XLSForm (``.xlsx``, the ODK/Kobo standard) import and export of survey definitions.

The workbook :func:`write_xlsform` produces converts with pyxform as it is; the columns and sheets
marked *custom* are ignored by XLSForm tools and carry what a ministry survey needs on top of
XLSForm, so that ``read_xlsform(write_xlsform(d)) == d``. Text columns come in pairs,
``<base>::Japanese (ja)`` and ``<base>::English (en)``.

``survey`` sheet, one row per question; a section is a ``begin_group`` … ``end_group`` pair whose row
holds the section's name, label and relevant:

- ``type``: ``select_one L``, ``select_multiple L``, ``integer``, ``decimal``, ``text``, ``note``;
  yes_no is written ``select_one yes_no`` with a ``yes_no`` list (yes/はい/Yes, no/いいえ/No) in choices
- ``name``; ``code`` (*custom*, the printed code such as ``Q2-1``); ``label::…``; ``hint::…``
- ``guidance_hint::…`` (the answer guidance, 回答要領) and ``guidance_references`` (*custom*, a JSON
  list of ``Reference`` objects)
- ``relevant``, ``constraint`` (XLSForm expressions such as ``${q1} = 'yes'``), ``constraint_message::…``
- ``required`` (``yes`` or empty; ``true``/``TRUE``/``1``/``no``/``false``… accepted), ``required_message::…``
- ``minimum``, ``maximum`` (*custom*, bounds of an integer/decimal answer), ``digits_only`` (*custom*,
  ``yes`` when answers must be typed in half-width ASCII digits)

A question with bounds and no constraint of its own also gets the standard constraint
``. >= MIN and . <= MAX`` so that ODK tools enforce the bounds; on import, when ``minimum``/``maximum``
are present, a constraint equal to the generated one is dropped again.

``choices`` sheet: ``list_name``, ``name``, ``label::…``. ``settings`` sheet (one row): ``form_title``
(Japanese title), ``form_id`` (= id), ``version``, ``default_language`` (``Japanese (ja)``) and *custom*
``title_en``, ``description_ja``/``_en``, ``faq_ja``/``_en``, ``source_ja``/``_en``, ``period_opens``,
``period_closes`` (ISO dates) and ``contacts`` (JSON list of ``Contact`` objects). *Custom*
``assumptions`` sheet: ``question``, ``text::…``.

Import also takes plain ODK forms: a language column may be written ``label::Japanese (ja)``,
``label::日本語 (ja)``, ``label::ja`` or plain ``label`` (the default language: Japanese unless the
settings say otherwise); a field with no Japanese column at all uses its English text as Japanese; a
choice without a label is labelled with its name. Questions outside any group go to a section named
``main`` (``main_2``… for later runs). Nested groups are flattened into the outermost group, and the
inner groups' relevant is AND-ed into each question's (``(a) and (b)``). A ``select_one`` whose list
holds exactly the names ``yes`` and ``no`` becomes a yes_no question (so a definition's own select_one
over such a list does not round-trip), and a list used only by such questions is dropped. Metadata
rows (``start``, ``end``, ``today``, ``deviceid``…) are skipped; ``calculate``, ``begin_repeat``,
``geopoint``, ``select_one_from_file`` and other types are refused with DH-D105. Every other problem
is a DH-D102 naming the sheet, the 1-based row and the column; all problems are reported together.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from pydantic import BaseModel, ValidationError

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.model import (
    YES_NO_CHOICES,
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

SURVEY = "survey"
CHOICES = "choices"
SETTINGS = "settings"
ASSUMPTIONS = "assumptions"

LANGUAGE_NAMES: dict[str, str] = {"ja": "Japanese (ja)", "en": "English (en)"}
DEFAULT_SECTION = "main"
DEFAULT_SECTION_LABEL = Text(ja="設問", en="Questions")
YES_NO_LIST = "yes_no"

_TRANSLATABLE = frozenset({"label", "hint", "guidance_hint", "constraint_message", "required_message", "text"})
_HEADER_ALIASES = {
    "relevance": "relevant",
    "caption": "label",
    "requiredmsg": "required_message",
    "constraining_message": "constraint_message",
    "list": "list_name",
    "set_form_title": "form_title",
    "set_form_id": "form_id",
}
_TYPE_PHRASES: list[tuple[str, ...]] = [
    tuple(phrase.split())
    for phrase in ("select one from file", "select multiple from file", "select all that apply", "select one")
    + ("select multiple", "begin group", "end group", "begin repeat", "end repeat")
]
_SIMPLE_KINDS = (QuestionType.INTEGER, QuestionType.DECIMAL, QuestionType.TEXT, QuestionType.NOTE)
_SIMPLE_TYPES = {"int": QuestionType.INTEGER, "string": QuestionType.TEXT} | {t.value: t for t in _SIMPLE_KINDS}
_METADATA_TYPES = frozenset(
    "start end today deviceid imei subscriberid simserial phonenumber username email audit start-geopoint "
    "start_geopoint background-audio background_audio".split()
)
# OOXML escapes characters XML cannot hold as _xHHHH_ (and a literal "_xHHHH_" as "_x005F_xHHHH_")
_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\r]|_(?=x[0-9A-Fa-f]{4}_)")
_UNESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_TRUE = frozenset({"yes", "true", "1", "true()", "y"})
_FALSE = frozenset({"", "no", "false", "0", "false()", "n"})


# --- export ------------------------------------------------------------------------------------


def _both(base: str) -> list[str]:
    return [f"{base}::{LANGUAGE_NAMES['ja']}", f"{base}::{LANGUAGE_NAMES['en']}"]


SURVEY_COLUMNS: list[str] = [
    *("type", "name", "code", *_both("label"), *_both("hint"), *_both("guidance_hint")),
    *("guidance_references", "relevant", "constraint", *_both("constraint_message")),
    *("required", *_both("required_message"), "minimum", "maximum", "digits_only"),
]
CHOICES_COLUMNS: list[str] = ["list_name", "name", *_both("label")]
SETTINGS_COLUMNS: list[str] = (
    "form_title form_id version default_language title_en description_ja description_en faq_ja faq_en "
    "source_ja source_en period_opens period_closes contacts"
).split()
ASSUMPTIONS_COLUMNS: list[str] = ["question", *_both("text")]

Cell = str | int | float
M = TypeVar("M", bound=BaseModel)


def write_xlsform(defn: SurveyDefinition) -> bytes:
    """The definition as an XLSForm workbook (``.xlsx`` bytes); see the module docstring."""
    yes_no_list = _yes_no_list_name(defn)
    survey_rows: list[dict[str, Cell]] = []
    for section in defn.sections:
        begin: dict[str, Cell] = {
            "type": "begin_group",
            "name": section.name,
            "relevant": section.relevant or "",
        }
        survey_rows.append(begin | _text_cells("label", section.label))
        survey_rows.extend(_question_row(question, yes_no_list) for question in section.questions)
        survey_rows.append({"type": "end_group", "name": section.name})

    choice_rows: list[dict[str, Cell]] = []
    lists = dict(defn.choice_lists)
    if any(question.type == QuestionType.YES_NO for question in defn.questions()):
        lists[yes_no_list] = YES_NO_CHOICES
    for list_name, choices in lists.items():
        for choice in choices:
            choice_row: dict[str, Cell] = {"list_name": list_name, "name": choice.name}
            choice_rows.append(choice_row | _text_cells("label", choice.label))

    settings: dict[str, Cell] = {
        "form_title": defn.title.ja,
        "form_id": defn.id,
        "version": defn.version,
        "default_language": LANGUAGE_NAMES[defn.default_language],
        "title_en": defn.title.en,
        "contacts": _json([contact.model_dump(mode="json", exclude_defaults=True) for contact in contacts])
        if (contacts := defn.contacts)
        else "",
    }
    for key, text in (("description", defn.description), ("faq", defn.faq), ("source", defn.source)):
        if text is not None:
            settings[f"{key}_ja"] = text.ja
            settings[f"{key}_en"] = text.en
    if defn.period is not None:
        settings["period_opens"] = defn.period.opens.isoformat()
        settings["period_closes"] = defn.period.closes.isoformat()

    assumption_rows: list[dict[str, Cell]] = []
    for assumption in defn.assumptions:
        assumption_row: dict[str, Cell] = {"question": assumption.question}
        assumption_rows.append(assumption_row | _text_cells("text", assumption.text))

    workbook = Workbook()
    workbook.remove(workbook.active)
    _write_sheet(workbook, SURVEY, SURVEY_COLUMNS, survey_rows, keep=SURVEY_COLUMNS[:4])
    _write_sheet(workbook, CHOICES, CHOICES_COLUMNS, choice_rows, keep=CHOICES_COLUMNS[:3])
    _write_sheet(workbook, SETTINGS, SETTINGS_COLUMNS, [settings], keep=SETTINGS_COLUMNS[:4])
    _write_sheet(workbook, ASSUMPTIONS, ASSUMPTIONS_COLUMNS, assumption_rows, keep=ASSUMPTIONS_COLUMNS)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def bounds_constraint(minimum: float | None, maximum: float | None) -> str | None:
    """The standard XLSForm constraint that enforces ``minimum``/``maximum`` in ODK tools."""
    parts = []
    if minimum is not None:
        parts.append(f". >= {_number(minimum)}")
    if maximum is not None:
        parts.append(f". <= {_number(maximum)}")
    return " and ".join(parts) or None


def _yes_no_list_name(defn: SurveyDefinition) -> str:
    """``yes_no`` unless the definition has a list of that name; then ``yes_no_2``, ``yes_no_3``…"""
    name, counter = YES_NO_LIST, 1
    while name in defn.choice_lists:
        counter += 1
        name = f"{YES_NO_LIST}_{counter}"
    return name


def _question_row(question: Question, yes_no_list: str) -> dict[str, Cell]:
    if question.type == QuestionType.YES_NO:
        type_cell = f"select_one {yes_no_list}"
    elif question.choices is not None:
        type_cell = f"{question.type.value} {question.choices}"
    else:
        type_cell = question.type.value
    row: dict[str, Cell] = {
        "type": type_cell,
        "name": question.name,
        "code": question.code,
        "relevant": question.relevant or "",
        "constraint": question.constraint or bounds_constraint(question.minimum, question.maximum) or "",
        "required": "yes" if question.required else "",
        "digits_only": "yes" if question.digits_only else "",
    }
    row |= _text_cells("label", question.label)
    row |= _text_cells("hint", question.hint)
    row |= _text_cells("constraint_message", question.constraint_message)
    row |= _text_cells("required_message", question.required_message)
    if question.guidance is not None:
        row |= _text_cells("guidance_hint", question.guidance.text)
        if question.guidance.references:
            references = [ref.model_dump(mode="json", exclude_defaults=True) for ref in question.guidance.references]
            row["guidance_references"] = _json(references)
    if question.minimum is not None:
        row["minimum"] = _cell_number(question.minimum)
    if question.maximum is not None:
        row["maximum"] = _cell_number(question.maximum)
    return row


def _text_cells(base: str, text: Text | None) -> dict[str, Cell]:
    if text is None:
        return {}
    ja, en = _both(base)
    return {ja: text.ja, en: text.en}


def _write_sheet(
    workbook: Workbook,
    title: str,
    columns: Sequence[str],
    rows: Sequence[dict[str, Cell]],
    keep: Sequence[str],
) -> None:
    """One sheet with a header row; columns that are empty in every row are left out."""
    used = [column for column in columns if column in keep or any(row.get(column, "") != "" for row in rows)]
    sheet = workbook.create_sheet(title)
    header: dict[str, Cell] = {column: column for column in used}
    for row_index, values in enumerate([header, *rows], start=1):
        for col_index, column in enumerate(used, start=1):
            value = values.get(column, "")
            if value == "":
                continue
            if isinstance(value, str):
                value = _ESCAPE.sub(lambda match: f"_x{ord(match.group()):04X}_", value)
            cell = sheet.cell(row=row_index, column=col_index, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # a label or expression, never a spreadsheet formula
    for col_index, column in enumerate(used, start=1):
        longest = max([len(column)] + [len(str(row.get(column, ""))) for row in rows])
        sheet.column_dimensions[get_column_letter(col_index)].width = min(max(longest + 2, 8), 60)
    sheet.freeze_panes = "A2"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _cell_number(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# --- import: reading sheets ----------------------------------------------------------------------


@dataclass
class _Row:
    sheet: _Sheet
    number: int
    plain: dict[str, str] = field(default_factory=dict)
    texts: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, column: str) -> str:
        return self.plain.get(column, "").strip()

    def raw(self, column: str) -> str:
        return self.plain.get(column, "")

    def text(self, base: str) -> Text | None:
        values = self.texts.get(base, {})
        ja, en = values.get("ja", ""), values.get("en", "")
        if not ja and "ja" not in self.sheet.languages.get(base, set()):
            ja = en  # no Japanese column for this field at all: the English text stands in
        if not ja and not en:
            return None
        return Text(ja=ja, en=en)


@dataclass
class _Sheet:
    name: str
    headers: dict[str, str] = field(default_factory=dict)  # column key -> header as written
    languages: dict[str, set[str]] = field(default_factory=dict)
    rows: list[_Row] = field(default_factory=list)

    def header(self, key: str) -> str:
        """The header as written in the workbook for a column key (``label`` → ``label::Japanese (ja)``)."""
        return self.headers.get(key) or self.headers.get(f"{key}:ja") or key


def _language(token: str) -> str | None:
    token = token.strip()
    match = re.search(r"\(\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?\s*\)\s*$", token)
    code = match.group(1).lower() if match else token.lower()
    if code in ("ja", "jp", "jpn", "japanese", "日本語"):
        return "ja"
    if code in ("en", "eng", "english", "英語"):
        return "en"
    return None


def _parse_header(header: str, default_language: str) -> tuple[str, str | None] | None:
    """(base column, language) of a header; language is None for a column that is not translated."""
    base, sep, rest = header.strip().partition("::")
    base = "_".join(base.split()).lower()
    base = _HEADER_ALIASES.get(base, base)
    if not base:
        return None
    if base not in _TRANSLATABLE:
        return (header.strip(), None) if sep else (base, None)
    language = _language(rest) if sep else default_language
    return (base, language) if language else None  # other languages are ignored


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return _UNESCAPE.sub(lambda match: chr(int(match.group(1), 16)), str(value))


def _read_sheet(name: str, values: Iterable[Sequence[Any]], default_language: str) -> _Sheet:
    sheet = _Sheet(name=name)
    columns: list[tuple[str, str | None] | None] = []
    for number, cells in enumerate(values, start=1):
        if number == 1:
            for cell in cells:
                header = _cell_text(cell)
                parsed = _parse_header(header, default_language) if header.strip() else None
                columns.append(parsed)
                if parsed is not None:
                    base, language = parsed
                    key = base if language is None else f"{base}:{language}"
                    sheet.headers.setdefault(key, header.strip())
                    if language is not None:
                        sheet.languages.setdefault(base, set()).add(language)
            continue
        row = _Row(sheet=sheet, number=number)
        for parsed, cell in zip(columns, cells, strict=False):
            text = _cell_text(cell)
            if parsed is None or text == "":
                continue
            base, language = parsed
            if language is None:
                row.plain.setdefault(base, text)
            else:
                row.texts.setdefault(base, {}).setdefault(language, text)
        if row.plain or row.texts:
            sheet.rows.append(row)
    return sheet


# --- import: building the definition --------------------------------------------------------------


class _Problems(list[Problem]):
    def at(self, row: _Row, column: str, detail: str) -> None:
        params = {"sheet": row.sheet.name, "detail": detail}
        self.append(Problem("DH-D102", params, row=row.number, field=row.sheet.header(column)))

    def unsupported(self, row: _Row, raw_type: str) -> None:
        params = {"sheet": row.sheet.name, "value": raw_type}
        self.append(Problem("DH-D105", params, row=row.number, field=row.sheet.header("type")))

    def validated(self, model: type[M], data: Any, row: _Row, columns: dict[str, str]) -> M | None:
        """``model`` built from ``data``; each validation error becomes a DH-D102 at ``row``.

        ``columns`` maps a model field to its column when they differ; ``columns[""]`` names the column
        of model-level errors.
        """
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = error["loc"]
                key = str(loc[0]) if loc else ""
                where = ".".join(str(part) for part in loc[1:])
                detail = _pydantic_message(error["msg"])
                self.at(row, columns.get(key) or key, f"{where}: {detail}" if where else detail)
            return None

    def validated_list(self, model: type[M], row: _Row, column: str) -> list[M]:
        """The JSON list in ``column`` as ``model`` objects; errors name the item index and field."""
        valid = []
        for index, item in enumerate(_json_cell(row, column, self) or []):
            try:
                valid.append(model.model_validate(item))
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    where = ".".join(str(part) for part in (index, *error["loc"]))
                    self.at(row, column, f"{where}: {_pydantic_message(error['msg'])}")
        return valid


def _pydantic_message(message: str) -> str:
    return message.removeprefix("Value error, ")


def read_xlsform(data: bytes | Path, *, fallback_id: str | None = None) -> SurveyDefinition:
    """A definition from an XLSForm workbook; raises :class:`DefinitionError` naming sheet/row/column.

    ``fallback_id`` is the survey id when the settings sheet has no ``form_id`` (for a path, its stem).
    """
    if isinstance(data, Path):
        path, fallback_id = data, fallback_id or data.stem
        try:
            data = path.read_bytes()
        except OSError as exc:
            detail = f"{path.name}: {exc.strerror or exc}"
            raise DefinitionError(Problem("DH-D101", {"detail": detail})) from exc
    sheets = _open_workbook(data)
    if SURVEY not in sheets:
        detail = "「survey」シートがありません (no 'survey' sheet)"
        raise DefinitionError(Problem("DH-D101", {"detail": detail}))
    problems = _Problems()
    settings = _read_sheet(SETTINGS, sheets.get(SETTINGS, []), "ja")
    settings_row = settings.rows[0] if settings.rows else _Row(sheet=settings, number=2)
    default_language = _language(settings_row.get("default_language")) or "ja"

    def sheet(name: str) -> _Sheet:
        return _read_sheet(name, sheets.get(name, []), default_language)

    choice_lists = _read_choices(sheet(CHOICES), problems)
    drafts, converted = _read_survey(sheet(SURVEY), choice_lists, problems)
    assumptions = _read_assumptions(sheet(ASSUMPTIONS), problems)
    sections: list[Section] = []
    for draft in drafts:
        section_data = {key: value for key, value in vars(draft).items() if key != "row"}
        if draft.row is None:
            sections.append(Section.model_validate(section_data))
        elif draft.name and (section := problems.validated(Section, section_data, draft.row, {})):
            sections.append(section)

    still_used = {question.choices for section in sections for question in section.questions}
    for list_name in converted - still_used:
        del choice_lists[list_name]

    definition_data = _settings_data(settings_row, fallback_id, problems)
    definition_data |= {
        "default_language": default_language,
        "choice_lists": choice_lists,
        "sections": sections,
        "assumptions": assumptions,
    }
    if problems:
        raise DefinitionError(*problems)
    definition: SurveyDefinition | None = problems.validated(
        SurveyDefinition, definition_data, settings_row, _SETTINGS_FIELDS
    )
    if definition is None:
        raise DefinitionError(*problems)
    return definition


_SETTINGS_FIELDS = {"": "form_id", "id": "form_id", "title": "form_title", "period": "period_opens"}
_SETTINGS_FIELDS |= {key: f"{key}_ja" for key in ("description", "faq", "source")}


def _open_workbook(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Sheet name (lower case) -> rows of cell values."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a damaged file
        raise _damaged(exc) from exc
    sheets = {}
    try:
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # some tools store wrong dimensions; read the cells that are there
            sheets[sheet.title.strip().lower()] = list(sheet.iter_rows(values_only=True))
    except Exception as exc:  # noqa: BLE001 - read-only mode reads sheets lazily: damage shows up here too
        raise _damaged(exc) from exc
    finally:
        workbook.close()
    return sheets


def _damaged(exc: Exception) -> DefinitionError:
    detail = f"有効な .xlsx ではありません (not a valid .xlsx workbook: {type(exc).__name__}: {str(exc)[:200]})"
    return DefinitionError(Problem("DH-D101", {"detail": detail}))


def _read_choices(sheet: _Sheet, problems: _Problems) -> dict[str, list[Choice]]:
    lists: dict[str, list[Choice]] = {}
    for row in sheet.rows:
        list_name, name = row.get("list_name"), row.get("name")
        if not list_name and not name:
            continue
        if not list_name:
            problems.at(row, "list_name", "選択肢リスト名がありません (missing list_name)")
            continue
        if not name:
            problems.at(row, "name", "選択肢の名前がありません (missing choice name)")
            continue
        choices = lists.setdefault(list_name, [])
        if any(choice.name == name for choice in choices):
            problems.at(row, "name", f"リスト {list_name} で {name} が重複しています (duplicate choice)")
            continue
        label = row.text("label") or Text(ja=name)
        choice = problems.validated(Choice, {"name": name, "label": label}, row, {"": "name"})
        if choice is not None:
            choices.append(choice)
    return lists


@dataclass
class _Group:
    row: _Row
    name: str
    relevant: str | None
    repeat: bool = False


@dataclass
class _SectionDraft:
    row: _Row | None
    name: str
    label: Text
    relevant: str | None
    questions: list[Question] = field(default_factory=list)


_QUESTION_COLUMNS = {"": "type", "choices": "type", "guidance": "guidance_hint"}


def _split_type(raw: str) -> tuple[str, list[str]]:
    tokens = raw.split()
    lowered = tuple(token.lower() for token in tokens)
    for phrase in _TYPE_PHRASES:
        if lowered[: len(phrase)] == phrase:
            canonical = "select_multiple" if phrase[1] == "all" else "_".join(phrase)
            return canonical, tokens[len(phrase) :]
    return lowered[0], tokens[1:]


def _read_survey(
    sheet: _Sheet, lists: dict[str, list[Choice]], problems: _Problems
) -> tuple[list[_SectionDraft], set[str]]:
    """Sections (as drafts validated later) and the choice lists turned into yes_no questions."""
    drafts: list[_SectionDraft] = []
    stack: list[_Group] = []
    converted: set[str] = set()
    seen: dict[str, int] = {}
    ungrouped: _SectionDraft | None = None
    current: _SectionDraft | None = None  # the section of the open outermost group

    for row in sheet.rows:
        raw_type = " ".join(row.get("type").split())
        if not raw_type:
            if row.get("name") or row.texts.get("label"):
                problems.at(row, "type", "設問タイプがありません (missing type)")
            continue
        kind, args = _split_type(raw_type)
        if kind in ("begin_group", "begin_repeat"):
            if kind == "begin_repeat":
                problems.unsupported(row, raw_type)
            name = row.get("name")
            if not name:
                problems.at(row, "name", "グループ名がありません (missing group name)")
            if not stack:
                ungrouped = current = None
                if kind == "begin_group":
                    label = row.text("label") or Text(ja="")
                    current = _SectionDraft(row, name, label, row.get("relevant") or None)
                    drafts.append(current)
            stack.append(_Group(row, name, row.get("relevant") or None, repeat=kind == "begin_repeat"))
            continue
        if kind in ("end_group", "end_repeat"):
            if not stack or stack[-1].repeat != (kind == "end_repeat"):
                problems.at(row, "type", f"対応する begin がない {kind} です ({kind} without its begin)")
            else:
                stack.pop()
            continue
        if kind in _METADATA_TYPES and not args:
            continue
        question = _read_question(row, kind, args, raw_type, lists, converted, problems)
        name = row.get("name")
        if name:
            if name in seen:
                problems.at(row, "name", f"{name} は {seen[name]} 行目と重複しています (duplicate name)")
                continue
            seen[name] = row.number
        if question is None:
            continue
        inner = [group.relevant for group in stack[1:] if group.relevant]
        if inner:
            parts = [*inner, *([question.relevant] if question.relevant else [])]
            relevant = parts[0] if len(parts) == 1 else " and ".join(f"({part})" for part in parts)
            question = question.model_copy(update={"relevant": relevant})
        if stack:
            if current is not None:
                current.questions.append(question)
        else:
            if ungrouped is None:
                ungrouped = _SectionDraft(None, DEFAULT_SECTION, DEFAULT_SECTION_LABEL, None)
                drafts.append(ungrouped)
            ungrouped.questions.append(question)
    for group in stack:
        problems.at(group.row, "type", f"{group.name or 'group'} に end_group がありません (no matching end)")
    _name_default_sections(drafts)
    return drafts, converted


def _name_default_sections(drafts: list[_SectionDraft]) -> None:
    taken = {draft.name for draft in drafts if draft.row is not None}
    candidates = [DEFAULT_SECTION] + [f"{DEFAULT_SECTION}_{n}" for n in range(2, len(drafts) + len(taken) + 2)]
    names = (name for name in candidates if name not in taken)
    for draft in drafts:
        if draft.row is None:
            draft.name = next(names)


def _read_question(
    row: _Row,
    kind: str,
    args: list[str],
    raw_type: str,
    lists: dict[str, list[Choice]],
    converted: set[str],
    problems: _Problems,
) -> Question | None:
    choices: str | None = None
    if kind in ("select_one", "select_multiple") and len(args) == 1:
        choices = args[0]
        if choices not in lists:
            problems.at(row, "type", f"選択肢リスト {choices} がありません (unknown choice list)")
            return None
        question_type = QuestionType(kind)
        if kind == "select_one" and {choice.name for choice in lists[choices]} == {"yes", "no"}:
            converted.add(choices)
            question_type, choices = QuestionType.YES_NO, None
    elif kind in _SIMPLE_TYPES and not args:
        question_type = _SIMPLE_TYPES[kind]
    else:
        problems.unsupported(row, raw_type)
        return None
    name = row.get("name")
    if not name:
        problems.at(row, "name", "設問名がありません (missing name)")
        return None

    minimum = _number_cell(row, "minimum", problems)
    maximum = _number_cell(row, "maximum", problems)
    constraint = row.get("constraint") or None
    generated = bounds_constraint(minimum, maximum)
    if constraint and generated and constraint.split() == generated.split():
        constraint = None
    data: dict[str, Any] = {
        "name": name,
        "code": row.get("code"),
        "type": question_type,
        "label": row.text("label") or Text(ja=""),
        "hint": row.text("hint"),
        "guidance": _guidance(row, problems),
        "choices": choices,
        "relevant": row.get("relevant") or None,
        "constraint": constraint,
        "constraint_message": row.text("constraint_message"),
        "required": _flag(row, "required", problems),
        "required_message": row.text("required_message"),
        "minimum": minimum,
        "maximum": maximum,
        "digits_only": _flag(row, "digits_only", problems),
    }
    question: Question | None = problems.validated(Question, data, row, _QUESTION_COLUMNS)
    return question


def _flag(row: _Row, column: str, problems: _Problems) -> bool:
    value = row.get(column).lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        problems.at(row, column, f"yes か no を指定してください (expected yes or no: {row.get(column)!r})")
    return False


def _number_cell(row: _Row, column: str, problems: _Problems) -> float | None:
    value = row.get(column)
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        problems.at(row, column, f"数値ではありません (not a number: {value!r})")
        return None


def _json_cell(row: _Row, column: str, problems: _Problems) -> list[Any] | None:
    value = row.get(column)
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        problems.at(row, column, f"JSON として読めません (invalid JSON: {exc.msg} at column {exc.colno})")
        return None
    if not isinstance(parsed, list):
        problems.at(row, column, "JSON の配列ではありません (expected a JSON list)")
        return None
    return parsed


def _guidance(row: _Row, problems: _Problems) -> Guidance | None:
    text = row.text("guidance_hint")
    references = problems.validated_list(Reference, row, "guidance_references")
    if text is None:
        if references:
            problems.at(row, "guidance_hint", "参照には回答要領の本文が必要です (references need a text)")
        return None
    return Guidance(text=text, references=references)


def _settings_data(row: _Row, fallback_id: str | None, problems: _Problems) -> dict[str, Any]:
    form_id = row.get("form_id") or re.sub(r"[^A-Za-z0-9_.-]+", "_", fallback_id or "").strip("_.-")
    if not form_id:
        problems.at(row, "form_id", "フォームIDがありません (missing form_id)")
    title_ja = row.raw("form_title") or row.raw("title") or form_id
    data: dict[str, Any] = {
        "id": form_id or "unknown",
        "version": row.get("version"),
        "title": Text(ja=title_ja, en=row.raw("title_en")),
    }
    for key in ("description", "faq", "source"):
        ja, en = row.raw(f"{key}_ja"), row.raw(f"{key}_en")
        if ja or en:
            data[key] = Text(ja=ja or en, en=en)
    opens, closes = row.get("period_opens"), row.get("period_closes")
    if opens or closes:
        period = problems.validated(
            Period, {"opens": opens or None, "closes": closes or None}, row,
            {"opens": "period_opens", "closes": "period_closes", "": "period_closes"},
        )  # fmt: skip
        if period is not None:
            data["period"] = period
    data["contacts"] = problems.validated_list(Contact, row, "contacts")
    return data


def _read_assumptions(sheet: _Sheet, problems: _Problems) -> list[Assumption]:
    assumptions = []
    for row in sheet.rows:
        question, text = row.get("question"), row.text("text")
        if not question:
            problems.at(row, "question", "設問名がありません (missing question)")
            continue
        if text is None:
            problems.at(row, "text", "本文がありません (missing text)")
            continue
        assumptions.append(Assumption(question=question, text=text))
    return assumptions
