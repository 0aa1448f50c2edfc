"""Read JSON messages of the 健康情報等交換規約 into a ``RawBatch``.

A message is one participant's data::

    {"header": {"version": "1.0", "send_time": "yyyyMMddHHmmssSSS", "consortium_id": "C01",
                "participant_id": "P0001"},
     "weight": [{...}], "blood_pressure": [...], "activity": [...], "hba1c": [...],
     "clinic_blood_pressure": [...]}

Registry arrays (``participant``, ``lab``, ``device`` …) are accepted the same way. A document may also
be a JSON array of messages (many participants in one file); pointers then start with the message's
index (``/2/activity/0``).

- Encoding: UTF-8 (a byte-order mark is accepted); anything else is DH-X114, never guessed.
- Syntax errors and a wrong shape (not an object, ``header`` missing, an array that is not an array,
  a record that is not an object, a value that is an object, array or boolean) are DH-X121 with the
  JSON pointer of the offending place (RFC 6901).
- Keys the specification does not define are DH-X116, with the pointer of the key.
- The header is checked field by field (DH-X101/X102/X118 …; its time is not compared with the
  receipt time); ``version`` must be one this hub supports (DH-X124). A message whose header has
  errors is rejected whole: its records are not read.
- Records inherit ``consortium_id`` and ``participant_id`` from the header when they omit them (for
  record types that have those fields); a record that carries a different one is DH-X122.
- JSON numbers are taken as the text they were written as (``1.0`` stays ``"1.0"``, so an integer
  field given ``1.0`` is DH-X105 in the checker; ``65.50`` stays ``"65.50"``); ``null`` and ``""``
  mean absent.
- A record with a reading error is not put in the frame; its issues carry ``params["record"]`` (the
  record's pointer) so the checker counts it as received and rejected.
- ``_locator`` is the record's JSON pointer (``/activity/3``).
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from datahealth.exchange import spec
from datahealth.exchange.check import field_issues
from datahealth.exchange.pipeline import LOCATOR, SOURCE, Issue, RawBatch
from datahealth.exchange.spec_model import RecordType

JSON_TYPES: dict[str, RecordType] = {record.name: record for record in (*spec.REGISTRIES, *spec.RECORDS)}
SUPPORTED_VERSIONS: tuple[str, ...] = (spec.VERSION,)
HEADER_KEY = "header"
INHERITED = ("consortium_id", "participant_id")


def pointer(*parts: str | int) -> str:
    """An RFC 6901 JSON pointer."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def read_json_message(data: bytes, source: str = "message") -> RawBatch:
    """Read one JSON message, or a JSON array of messages, into a batch."""
    reader = _Reader(source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        reader.error("DH-X114", f"line {line}")
        return reader.batch()
    try:
        document = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except json.JSONDecodeError as exc:
        reader.error("DH-X121", "", rule=f"JSON の構文エラー / syntax error: {exc.msg} (line {exc.lineno}:{exc.colno})")
        return reader.batch()
    except RecursionError:
        reader.error("DH-X121", "", rule="入れ子が深すぎます / nested too deeply")
        return reader.batch()
    if isinstance(document, list):
        for index, message in enumerate(document):
            reader.message(message, (index,))
    else:
        reader.message(document, ())
        if isinstance(document, dict) and reader.headers:
            reader.header = reader.headers[0]
    if not reader.issues and not reader.records:
        reader.error("DH-X123", "")
    return reader.batch()


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[Issue] = []
        self.columns: dict[str, dict[str, list[str | None]]] = {}
        self.records = 0
        self.headers: list[dict[str, str]] = []
        self.header: dict[str, str] | None = None

    def error(
        self,
        code: str,
        locator: str,
        *,
        record_type: str = "",
        field: str = "",
        value: str = "",
        rule: str = "",
        record: str | None = None,
    ) -> None:
        params: dict[str, Any] = {} if record is None else {"record": record}
        self.issues.append(Issue("error", code, self.source, locator, record_type, field, value[:100], rule, params))

    def batch(self) -> RawBatch:
        frames: dict[str, pl.DataFrame] = {}
        for name, columns in self.columns.items():
            schema = dict.fromkeys(columns, pl.String)
            frames[name] = pl.DataFrame(columns, schema=schema)
        return RawBatch("json", [self.source], frames, self.issues, header=self.header)

    def message(self, message: Any, prefix: tuple[str | int, ...]) -> None:
        where = pointer(*prefix)
        if not isinstance(message, dict):
            self.error("DH-X121", where, rule="メッセージはオブジェクト / a message is a JSON object")
            return
        header = self._header(message.get(HEADER_KEY), prefix)
        unknown = [key for key in message if key != HEADER_KEY and key not in JSON_TYPES]
        for key in unknown:
            self.error("DH-X116", pointer(*prefix, key), field=key)
        if header is None:
            return
        self.headers.append(header)
        for key, items in message.items():
            if key == HEADER_KEY or key not in JSON_TYPES:
                continue
            if not isinstance(items, list):
                self.error("DH-X121", pointer(*prefix, key), record_type=key, rule="配列 / an array")
                continue
            for index, item in enumerate(items):
                self._record(JSON_TYPES[key], item, (*prefix, key, index), header)

    def _header(self, header: Any, prefix: tuple[str | int, ...]) -> dict[str, str] | None:
        where = pointer(*prefix, HEADER_KEY)
        if not isinstance(header, dict):
            self.error("DH-X121", where, record_type="header", rule="header オブジェクトが必要 / a header object")
            return None
        values: dict[str, str] = {}
        failed = False
        for key, value in header.items():
            if key not in spec.HEADER.names:
                self.error("DH-X116", pointer(*prefix, HEADER_KEY, key), record_type="header", field=key)
                failed = True
            elif not _is_value(value):
                self.error("DH-X121", pointer(*prefix, HEADER_KEY, key), record_type="header", field=key, rule=_VALUE)
                failed = True
            elif value not in (None, ""):
                values[key] = value
        frame = pl.DataFrame(
            {name: [values.get(name)] for name in spec.HEADER.names}, schema=dict.fromkeys(spec.HEADER.names, pl.String)
        ).with_columns(pl.lit(self.source).alias(SOURCE), pl.lit(where).alias(LOCATOR))
        problems = field_issues(spec.HEADER, frame, None)
        version = values.get("version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            problems = [problem for problem in problems if problem.field != "version"]
            problems.append(
                Issue(
                    "error", "DH-X124", self.source, where, "header", "version", version, ", ".join(SUPPORTED_VERSIONS)
                )
            )
        self.issues.extend(problems)
        return None if failed or problems else values

    def _record(self, record: RecordType, item: Any, path: tuple[str | int, ...], header: dict[str, str]) -> None:
        where = pointer(*path)
        self.records += 1
        if not isinstance(item, dict):
            self.error(
                "DH-X121", where, record_type=record.name, rule="レコードはオブジェクト / a JSON object", record=where
            )
            return
        row: dict[str, str | None] = {}
        failed = False
        for key, value in item.items():
            if key not in record.names:
                self.error("DH-X116", pointer(*path, key), record_type=record.name, field=key, record=where)
                failed = True
            elif not _is_value(value):
                self.error(
                    "DH-X121", pointer(*path, key), record_type=record.name, field=key, rule=_VALUE, record=where
                )
                failed = True
            else:
                row[key] = None if value == "" else value
        for name in INHERITED:
            if name not in record.names or name not in header:
                continue
            sent = row.get(name)
            if sent is None:
                row[name] = header[name]
            elif sent != header[name]:
                self.error(
                    "DH-X122",
                    pointer(*path, name),
                    record_type=record.name,
                    field=name,
                    value=sent,
                    rule=f"header の {name}（{header[name]}） / the header's {name} ({header[name]})",
                    record=where,
                )
                failed = True
        if failed:
            return
        columns = self.columns.get(record.name)
        if columns is None:
            columns = {name: [] for name in (*record.names, SOURCE, LOCATOR)}
            self.columns[record.name] = columns
        for name in record.names:
            columns[name].append(row.get(name))
        columns[SOURCE].append(self.source)
        columns[LOCATOR].append(where)


_VALUE = "値は文字列か数値 / a value is a string or a number"


def _is_value(value: Any) -> bool:
    """Strings (numbers arrive as their text) and null; not booleans, objects or arrays."""
    return value is None or isinstance(value, str)
