"""Reading and writing survey definitions as files: YAML, JSON and XLSForm (``.xlsx``).

The format follows the file's suffix: ``.yaml``/``.yml``, ``.json`` or ``.xlsx`` (see
:mod:`datahealth.survey.xlsform` for the XLSForm mapping). Every failure to read a definition is a
:class:`~datahealth.errors.DefinitionError`: DH-D101 for a file that cannot be parsed or a definition
that breaks the model (the problem names the field path, e.g. ``sections[0] (intro).questions[2]
(q1_3).type``), DH-D102/DH-D105 for XLSForm problems at a sheet, row and column.

JSON and YAML dumps leave out defaults and empty values for readability, keep the model's field
order, write non-ASCII text as is and round-trip exactly: ``load(dump(d)) == d``. YAML is read with
YAML 1.2 booleans (only ``true``/``false``), so a choice named ``yes`` or ``no`` stays a string.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePath
from typing import Any

import yaml
from pydantic import ValidationError

from datahealth.errors import DefinitionError, Problem
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.xlsform import read_xlsform, write_xlsform

FORMATS: dict[str, str] = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".xlsx": "xlsx"}


# --- loading -------------------------------------------------------------------------------------


def load_definition(path: Path) -> SurveyDefinition:
    """The definition in ``path``, by its suffix; raises :class:`DefinitionError`."""
    path = Path(path)
    kind = _format_of(path.name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(f"{path.name}: {exc.strerror or exc}") from exc
    return _load(data, path.name, kind)


def load_definition_bytes(data: bytes, filename: str) -> SurveyDefinition:
    """The definition in an uploaded file's ``data``; the format follows ``filename``'s suffix."""
    return _load(data, filename, _format_of(filename))


def validate_definition(data: Any) -> SurveyDefinition:
    """A definition from already parsed data (a dict), with errors as DH-D101 problems naming the field."""
    if not isinstance(data, dict):
        raise _unreadable(f"調査定義がマッピングではありません (expected a mapping, got {_kind(data)})")
    try:
        return SurveyDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(*problems_from_validation_error(exc, data)) from exc


def problems_from_validation_error(exc: ValidationError, data: Any = None) -> list[Problem]:
    """One DH-D101 per pydantic error; ``field`` is the path, annotated with names found in ``data``."""
    problems = []
    for error in exc.errors(include_url=False):
        path = field_path(error["loc"], data)
        message = error["msg"].removeprefix("Value error, ")
        detail = f"{path}: {message}" if path else message
        problems.append(Problem("DH-D101", {"detail": detail}, field=path or None))
    return problems


def field_path(loc: tuple[int | str, ...], data: Any = None) -> str:
    """``("sections", 0, "questions", 2, "type")`` as ``sections[0] (intro).questions[2] (q1_3).type``.

    A list item is annotated with its ``name`` (or ``question``) when ``data`` holds one, so the path
    names the question a person sees rather than only its position.
    """
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            label = node.get("name") or node.get("question") if isinstance(node, dict) else None
            if isinstance(label, str) and label:
                out += f" ({label})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _load(data: bytes, filename: str, kind: str) -> SurveyDefinition:
    if kind == "xlsx":
        return read_xlsform(data, fallback_id=PurePath(filename).stem)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _unreadable(f"{filename}: UTF-8 として読めません (not valid UTF-8)") from exc
    parsed = _parse_json(text, filename) if kind == "json" else _parse_yaml(text, filename)
    return validate_definition(parsed)


def _parse_json(text: str, filename: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _unreadable(f"{filename}: JSON として読めません (invalid JSON at {where}: {exc.msg})") from exc


def _parse_yaml(text: str, filename: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass  # nosec B506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _unreadable(f"{filename}: YAML として読めません (invalid YAML{where}: {problem})") from exc


def _format_of(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(FORMATS)
        raise _unreadable(f"{filename}: 未対応のファイル形式です (unsupported file type; use {supported})")
    return FORMATS[suffix]


def _unreadable(detail: str) -> DefinitionError:
    return DefinitionError(Problem("DH-D101", {"detail": detail}))


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: ``yes``/``no``/``on``/``off`` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# --- dumping -------------------------------------------------------------------------------------


def definition_data(defn: SurveyDefinition) -> dict[str, Any]:
    """The definition as plain JSON data without defaults, ``format`` first so a file says what it is."""
    data = defn.model_dump(mode="json", exclude_defaults=True)
    return {"format": defn.format, **data}


def dump_json(defn: SurveyDefinition) -> str:
    return json.dumps(definition_data(defn), ensure_ascii=False, indent=2) + "\n"


def dump_yaml(defn: SurveyDefinition) -> str:
    return yaml.dump(definition_data(defn), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100, indent=2)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line text as literal blocks (``|``), which is how people write 回答要領 by hand."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(char in value for char in "\r\x85\u2028\u2029"):
        style: str | None = '"'  # line breaks YAML readers would normalise: keep them escaped
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def export_definition(defn: SurveyDefinition, path: Path) -> None:
    """Write ``defn`` to ``path`` in the format its suffix names (.yaml/.yml, .json, .xlsx)."""
    path = Path(path)
    kind = _format_of(path.name)
    if kind == "xlsx":
        path.write_bytes(write_xlsform(defn))
    else:
        path.write_text(dump_json(defn) if kind == "json" else dump_yaml(defn), encoding="utf-8")
