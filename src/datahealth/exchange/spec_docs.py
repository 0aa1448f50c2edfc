"""Generate ``docs/exchange-spec.md`` (Japanese and English) and ``docs/exchange-spec.schema.json``.

Both are derived from ``spec.py`` alone, so the published specification, the JSON Schema and the
validator cannot drift: ``datahealth exchange spec --check`` (and a test) fails when the committed
files differ from what the code generates.
"""

from __future__ import annotations

import json
from typing import Any

from datahealth.errors import CATALOGUE
from datahealth.exchange import spec
from datahealth.exchange.spec_model import Code, Field, Kind, Need, RecordKind, RecordType, Source

MARKDOWN_NAME = "exchange-spec.md"
SCHEMA_NAME = "exchange-spec.schema.json"
SCHEMA_ID = f"urn:datahealth:exchange-spec:{spec.VERSION}"

SOURCE_LABEL = {
    Source.SEED_TABLE: "規約表 / seed table",
    Source.SEED_LIST: "一覧に名称 / seed list",
    Source.DEFINED: "本ハブで定義 / defined here",
}
NEED_LABEL = {Need.REQUIRED: "●", Need.CONDITIONAL: "▲", Need.OPTIONAL: ""}
DATE_PATTERNS = {
    Kind.DATETIME: r"[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]",
    Kind.TIMESTAMP: r"[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9][0-9]{3}",
    Kind.DATE: r"[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])",
    Kind.YEAR_MONTH: r"[0-9]{4}(0[1-9]|1[0-2])",
}
HEADER_FROM_MESSAGE = ("consortium_id", "participant_id")
"""Record fields a JSON message may omit: they are taken from the header."""


# --- shared helpers ----------------------------------------------------------------------------------


def decimal_picture(field: Field) -> str:
    """``XXXX.X`` for a 6-character decimal (the seed's notation: the point counts as a digit)."""
    return "X" * (field.digits - 1 - field.scale) + "." + "X" * field.scale


def value_pattern(field: Field) -> str:
    """The regular expression (without anchors) every sent text value of ``field`` matches."""
    if field.kind in DATE_PATTERNS:
        return DATE_PATTERNS[field.kind]
    if field.kind == Kind.INTEGER:
        return f"[0-9]{{1,{field.digits}}}"
    if field.kind == Kind.DECIMAL:
        whole = field.digits - 1 - field.scale
        return f"[0-9]{{1,{whole}}}(\\.[0-9]{{1,{field.scale}}})?"
    if field.kind == Kind.CODE:
        return "|".join(code.value for code in field.codes)
    return field.pattern


def kind_label(field: Field) -> tuple[str, str]:
    if field.kind == Kind.DATETIME:
        return "日付", "datetime (yyyyMMddHHmmss)"
    if field.kind == Kind.TIMESTAMP:
        return "日付", "timestamp (yyyyMMddHHmmssSSS)"
    if field.kind == Kind.DATE:
        return "日付", "date (yyyyMMdd)"
    if field.kind == Kind.YEAR_MONTH:
        return "年月", "year-month (yyyyMM)"
    if field.kind == Kind.INTEGER:
        return "数値（整数）", "integer"
    if field.kind == Kind.DECIMAL:
        return f"数値（{decimal_picture(field)}）", f"decimal ({decimal_picture(field)})"
    if field.kind == Kind.CODE:
        return "文字列（コード）", "code"
    return "文字列", "string"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def plausible_text(field: Field) -> str:
    if field.plausible is None:
        return ""
    low, high = field.plausible
    return f"{_number(low)}–{_number(high)}"


def code_lists() -> dict[tuple[Code, ...], str]:
    """Each distinct code list → the physical name of the first field that uses it (its anchor)."""
    names: dict[tuple[Code, ...], str] = {}
    from_seed: set[tuple[Code, ...]] = set()
    for record in spec.ALL:
        for field in record.fields:
            if not field.codes or field.codes in from_seed:
                continue
            # Name a shared list after the seed's own field when there is one (measurement_position_code).
            if field.codes not in names or field.source == Source.SEED_TABLE:
                names[field.codes] = field.name
            if field.source == Source.SEED_TABLE:
                from_seed.add(field.codes)
    return names


# --- Markdown ----------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _both(ja: str, en: str) -> str:
    if ja and en:
        return f"{_cell(ja)}<br>{_cell(en)}"
    return _cell(ja or en)


def _field_row(index: int, field: Field, lists: dict[tuple[Code, ...], str]) -> str:
    kind_ja, kind_en = kind_label(field)
    codes = ""
    if field.codes:
        values = " ".join(f"`{code.value}`" for code in field.codes)
        codes = f"{values} → [{lists[field.codes]}](#codes-{lists[field.codes]})"
    pattern = ""
    if field.kind == Kind.STRING and field.pattern:
        pattern = f"<br>`{_cell(field.pattern)}`"
    condition = _both(field.condition.ja, field.condition.en) if field.condition else ""
    cells = [
        str(index),
        _both(field.ja, field.en),
        f"`{field.name}`",
        f"{kind_ja}<br>{kind_en}{pattern}",
        str(field.digits),
        NEED_LABEL[field.need],
        condition,
        _cell(field.unit),
        codes,
        plausible_text(field),
        _both(field.note_ja, field.note_en),
        SOURCE_LABEL[field.source],
    ]
    return "| " + " | ".join(cells) + " |"


FIELD_HEADER = (
    "| # | 項目名 / Item | 物理名 / Physical name | 型 / Type | 桁 / Digits | 必須 / Need | 条件 / Condition | "
    "単位 / Unit | コード / Codes | 目安範囲 / Plausible | 備考 / Note | 出典 / Source |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _kind_label(record: RecordType) -> str:
    if record.name == spec.HEADER.name:
        return "ヘッダー / header"
    return "事前登録 / registry" if record.kind == RecordKind.REGISTRY else "記録 / record"


def _record_section(record: RecordType, lists: dict[tuple[Code, ...], str]) -> list[str]:
    kind = _kind_label(record)
    lines = [f'<a id="type-{record.name}"></a>', f"### {record.ja} / {record.en} (`{record.name}`)", ""]
    facts = [
        f"- 種別 / Kind: {kind}",
        f"- 出典 / Source: {SOURCE_LABEL[record.source]}",
    ]
    if record.name != spec.HEADER.name:
        facts.append(f"- CSV ファイル名 / CSV file: `{record.name}.csv`; JSON キー / JSON key: `{record.name}`")
    if record.identity:
        identity = ", ".join(f"`{name}`" for name in record.identity)
        facts.append(f"- 同一性（再送の判定）/ Identity (resends): {identity}")
    if record.fhir:
        facts.append(f"- FHIR: {record.fhir}")
    for check in record.cross_checks:
        facts.append(f"- 項目間チェック / Cross-field check: {check}")
    lines += facts
    if record.note_ja or record.note_en:
        lines += ["", f"{record.note_ja}", "", f"{record.note_en}"]
    lines += ["", FIELD_HEADER]
    lines += [_field_row(index, field, lists) for index, field in enumerate(record.fields, start=1)]
    return [*lines, ""]


def _code_section(lists: dict[tuple[Code, ...], str]) -> list[str]:
    lines = ["## コード表 / Code lists", ""]
    users: dict[tuple[Code, ...], list[str]] = {}
    for record in spec.ALL:
        for field in record.fields:
            if field.codes:
                users.setdefault(field.codes, [])
                entry = f"`{record.name}.{field.name}`"
                if entry not in users[field.codes]:
                    users[field.codes].append(entry)
    for codes, name in lists.items():
        lines += [f'<a id="codes-{name}"></a>', f"### {name}", "", f"使用箇所 / Used by: {', '.join(users[codes])}", ""]
        lines += ["| コード / Code | 意味 | Meaning |", "|---|---|---|"]
        lines += [f"| `{code.value}` | {_cell(code.ja)} | {_cell(code.en)} |" for code in codes]
        lines.append("")
    return lines


def _error_section() -> list[str]:
    lines = [
        "## エラー・警告コード / Error and warning codes",
        "",
        "受付結果とエラーレポートは次のコードで問題を示します（{…} は送信ごとの値）。"
        "DH-W で始まるコードは保存したうえで要確認とする値です。",
        "",
        "Results and error reports name each problem with one of these codes ({…} is filled per problem). "
        "DH-W codes mark values that were stored but flagged for checking.",
        "",
        "| コード / Code | メッセージ | Message |",
        "|---|---|---|",
    ]
    for code, message in CATALOGUE.items():
        if code.startswith(("DH-X", "DH-W", "DH-F")):
            lines.append(f"| {code} | {_cell(message.ja)} | {_cell(message.en)} |")
    return [*lines, ""]


INTRO = f"""# 健康情報等交換規約 / Health information exchange specification {spec.VERSION}

<!-- Generated by `datahealth exchange spec` from src/datahealth/exchange/spec.py. Do not edit by hand. -->

健康・医療情報を活用した行動変容促進事業の共通データベースに、各コンソーシアムが健康データを送るための交換規約です。
規約定義書の項目表（一部抜粋）にある項目は物理名・型・桁・必須をそのまま写し（出典「規約表」）、一覧に名称だけが
ある項目（「一覧に名称」）と本ハブで補った項目（「本ハブで定義」）は同じ書式で定義しました。この文書と JSON
Schema（[{SCHEMA_NAME}]({SCHEMA_NAME})）は検証プログラムと同じ定義から生成しています。

The exchange specification by which each consortium sends health data to the common database of the
behaviour-change programme. Items in the specification's field table (excerpt) are transcribed exactly
(source "seed table"); items the seed only names ("seed list") and items this hub adds ("defined here")
are defined in the same style. This document and the JSON Schema ([{SCHEMA_NAME}]({SCHEMA_NAME})) are
generated from the same definitions the validator uses.

## 凡例 / Legend

| 記号 / Mark | 意味 | Meaning |
|---|---|---|
| ● | 必須 | required |
| ▲ | 条件付き必須（条件欄の場合に必須） | required when its condition holds |
| （空欄） | 任意 | optional |
| 桁 / Digits | 最大の文字数（日付は固定長、XXXX.X は小数点を含め 6 桁） | most characters (dates: fixed; XXXX.X: 6) |
| 目安範囲 / Plausible | 範囲外の値は保存したうえで要確認（DH-W201） | values outside are stored but flagged (DH-W201) |

値はすべて半角（ASCII）で送ります。全角数字、存在しない日付、未来の日時、桁数超過、整数欄の小数、コード表にない値は
受け付けません。計測日時で時・分・秒を計測していない場合は 00 を入れます。

Every value is sent in half-width (ASCII) characters. Full-width digits, impossible dates, times in the
future, too many digits, decimals in integer fields and values outside a code list are refused. Write 00
for an hour, minute or second that was not measured.

## 送信形式 / Wire formats

**CSV**：レコード種別ごとに 1 ファイル（`activity.csv` のようにファイル名＝種別の物理名）。UTF-8（BOM 可）、
1 行目は物理名の見出し行。各行に `consortium_id` と `participant_id` を持つ。登録リスト（`participant.csv`、
`device.csv` など）も同じ形式です。

**CSV**: one file per record type, named after it (`activity.csv`). UTF-8 (a BOM is accepted), the first
row holds the physical names, every row carries `consortium_id` and `participant_id`. Registries
(`participant.csv`, `device.csv`, …) use the same form.

**JSON**：参加者 1 人につき 1 メッセージ。`header`（version、send_time、consortium_id、participant_id）と
レコード種別ごとの配列。配列内のレコードは consortium_id と participant_id を省略でき、ヘッダーの値が使われます。
値は文字列で送ります（数値も受け付けて文字列に変換しますが、整数欄の 1.0 は DH-X105 です）。`null` と `""` は
値なしです。登録リストの配列（`participant` など）も同じ形で送れます。複数の参加者をまとめる場合はメッセージの
配列にします（JSON ポインタは `/2/activity/0` のようにメッセージの位置から始まります）。

**JSON**: one message per participant: a `header` (version, send_time, consortium_id, participant_id) and
one array per record type. Records may omit consortium_id and participant_id, which then come from the
header. Values are sent as strings (numbers are accepted and converted to text, but 1.0 in an integer
field is DH-X105); `null` and `""` mean absent. Registry arrays (`participant`, …) may be sent the same
way. Several participants go in a JSON array of messages (pointers then start with the message's index,
`/2/activity/0`).

```json
{{"header": {{"version": "{spec.VERSION}", "send_time": "20250301090000000",
            "consortium_id": "CONSA", "participant_id": "P0001"}},
 "activity": [{{"observation_time": "20250228000000", "step": "8123",
               "model_manufacturer_code": "M01", "model_number": "AM-100",
               "production_specification_serial": "SN0001", "total_active_duration": "1440",
               "data_input_code": "0", "measurement_position_code": "30",
               "origin_of_time_code": "0", "update_time": "20250301085959000"}}]}}
```
"""


def render_markdown() -> str:
    lists = code_lists()
    lines = [INTRO, "## レコード種別一覧 / Record types", ""]
    lines += [
        "| 物理名 / Name | 名称 | Name | 種別 / Kind | 項目数 / Fields | 出典 / Source |",
        "|---|---|---|---|---|---|",
    ]
    for record in spec.ALL:
        kind = _kind_label(record)
        lines.append(
            f"| [`{record.name}`](#type-{record.name}) | {record.ja} | {record.en} | {kind} | "
            f"{len(record.fields)} | {SOURCE_LABEL[record.source]} |"
        )
    lines += ["", "## ヘッダー / Header", ""]
    lines += _record_section(spec.HEADER, lists)
    lines += ["## 事前登録が必要となる情報 / Registries", ""]
    for record in spec.REGISTRIES:
        lines += _record_section(record, lists)
    lines += ["## 各コンソーシアムが提供する情報 / Records", ""]
    for record in spec.RECORDS:
        lines += _record_section(record, lists)
    lines += _code_section(lists)
    lines += _error_section()
    return "\n".join(lines).rstrip("\n") + "\n"


# --- JSON Schema -------------------------------------------------------------------------------------


def field_schema(field: Field, *, nullable: bool) -> dict[str, Any]:
    """The schema of one field's value in a JSON message (text as sent; numbers also for numeric kinds)."""
    text: dict[str, Any] = {"type": "string", "pattern": f"^(?:{value_pattern(field)})$"}
    if field.kind in (Kind.STRING,):
        text["maxLength"] = field.digits
        if not field.pattern:
            text = {"type": "string", "minLength": 1, "maxLength": field.digits}
    elif field.kind == Kind.CODE:
        text = {"type": "string", "enum": [code.value for code in field.codes]}
    options: list[dict[str, Any]] = [text]
    if field.kind == Kind.INTEGER:
        options.append({"type": "integer", "minimum": 0, "maximum": 10**field.digits - 1})
    elif field.kind == Kind.DECIMAL:
        whole = field.digits - 1 - field.scale
        options.append({"type": "number", "minimum": 0, "maximum": 10**whole - 10**-field.scale})
    if nullable:
        options += [{"type": "null"}, {"type": "string", "maxLength": 0}]
    schema: dict[str, Any] = {"title": f"{field.ja} / {field.en}"}
    description = " ".join(part for part in (field.note_en, field.unit and f"Unit: {field.unit}.") if part)
    if field.condition is not None:
        description = f"{description} ▲ {field.condition.en}".strip()
    if description:
        schema["description"] = description
    if len(options) == 1:
        schema.update(options[0])
    else:
        schema["anyOf"] = options
    return schema


def record_schema(record: RecordType, *, in_message: bool) -> dict[str, Any]:
    optional_here = HEADER_FROM_MESSAGE if in_message and record.name != spec.HEADER.name else ()
    required = [f.name for f in record.fields if f.need == Need.REQUIRED and f.name not in optional_here]
    properties = {f.name: field_schema(f, nullable=f.need != Need.REQUIRED) for f in record.fields}
    schema: dict[str, Any] = {
        "title": f"{record.ja} / {record.en}",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if record.note_en:
        schema["description"] = record.note_en
    return schema


def render_schema() -> dict[str, Any]:
    message_types = [*spec.REGISTRIES, *spec.RECORDS]
    properties: dict[str, Any] = {"header": {"$ref": "#/$defs/header"}}
    for record in message_types:
        properties[record.name] = {"type": "array", "items": {"$ref": f"#/$defs/{record.name}"}}
    defs = {spec.HEADER.name: record_schema(spec.HEADER, in_message=True)}
    defs.update({record.name: record_schema(record, in_message=True) for record in message_types})
    defs.update({f"csv_{record.name}": record_schema(record, in_message=False) for record in spec.ALL[1:]})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"健康情報等交換規約 {spec.VERSION} JSON メッセージ / Health information exchange message",
        "description": (
            "One message per participant: a header and one array per record or registry type (a document may "
            "also be an array of such messages). Values are text as in the "
            "specification (numbers are also accepted for numeric fields). Real-calendar dates, times in the "
            "future, registry references and ▲ conditions are checked by the hub, not by this schema. "
            "$defs csv_* describe one CSV row (or one registry entry) of each type."
        ),
        "type": "object",
        "properties": properties,
        "required": ["header"],
        "additionalProperties": False,
        "$defs": defs,
    }


def render_schema_text() -> str:
    return json.dumps(render_schema(), ensure_ascii=False, indent=2) + "\n"


def generated_files() -> dict[str, str]:
    """File name (inside ``docs/``) → content."""
    return {MARKDOWN_NAME: render_markdown(), SCHEMA_NAME: render_schema_text()}
