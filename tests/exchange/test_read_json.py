"""The JSON reader: header, inheritance, numbers as text, shape errors with JSON pointers, arrays of messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from checker_rows import codes, message, row, run_json

from datahealth.exchange.pipeline import LOCATOR, SOURCE
from datahealth.exchange.read_json import pointer, read_json_message
from datahealth.exchange.spec import ACTIVITY


def read(document: Any) -> Any:
    return read_json_message(json.dumps(document, ensure_ascii=False).encode("utf-8"), source="upload.json")


def test_records_inherit_the_header_ids() -> None:
    batch = read(message({"activity": [row("activity")], "weight": [row("weight")]}))
    assert batch.issues == []
    frame = batch.frames["activity"]
    assert frame.columns == [*ACTIVITY.names, SOURCE, LOCATOR]
    assert frame["consortium_id"].to_list() == ["C01"]
    assert frame["participant_id"].to_list() == ["P001"]
    assert frame[LOCATOR].to_list() == ["/activity/0"]
    assert frame[SOURCE].to_list() == ["upload.json"]
    assert batch.header == {
        "version": "1.0",
        "send_time": "20250601110000000",
        "consortium_id": "C01",
        "participant_id": "P001",
    }
    assert batch.wire_format == "json"


def test_a_record_may_repeat_the_header_ids() -> None:
    batch = read(message({"activity": [row("activity")]}, inherit=False))
    assert batch.issues == []
    assert batch.frames["activity"].height == 1


def test_a_record_of_another_participant_is_x122_and_rejected() -> None:
    document = message({"activity": [row("activity", participant_id="P002"), row("activity")]}, inherit=False)
    batch = read(document)
    assert codes(batch.issues) == [("DH-X122", "/activity/0/participant_id", "participant_id")]
    assert batch.issues[0].value == "P002"
    assert batch.frames["activity"][LOCATOR].to_list() == ["/activity/1"]
    checked = run_json(document)
    assert checked.received == {"activity": 2}
    assert checked.rejected("activity") == 1


def test_a_record_of_another_consortium_is_x122() -> None:
    document = message({"activity": [row("activity", consortium_id="C02")]}, inherit=False)
    assert codes(read(document).issues) == [("DH-X122", "/activity/0/consortium_id", "consortium_id")]


def test_numbers_are_read_as_the_text_they_were_written_as() -> None:
    text = json.dumps(message({"activity": [row("activity")]}))
    text = text.replace('"step": "8000"', '"step": 8000').replace('"calories": "250.5"', '"calories": 250.50')
    batch = read_json_message(text.encode())
    assert batch.frames["activity"]["step"].to_list() == ["8000"]
    assert batch.frames["activity"]["calories"].to_list() == ["250.50"]


def test_an_integer_field_given_a_json_float_is_x105() -> None:
    text = json.dumps(message({"activity": [row("activity")]})).replace('"step": "8000"', '"step": 1.0')
    checked = run_json(json.loads(text, parse_float=str))
    assert codes(checked.errors) == [("DH-X105", "/activity/0", "step")]
    raw = read_json_message(text.encode())
    assert raw.frames["activity"]["step"].to_list() == ["1.0"]


def test_null_and_empty_string_mean_absent() -> None:
    document = message({"activity": [row("activity")]})
    document["activity"][0]["distance"] = None
    document["activity"][0]["walk_time"] = ""
    frame = read(document).frames["activity"]
    assert frame["distance"].to_list() == [None]
    assert frame["walk_time"].to_list() == [None]


@pytest.mark.parametrize(
    ("data", "locator"),
    [
        (b'{"header": ', ""),
        (b"[1, 2", ""),
        (b'"a string"', ""),
        (b"42", ""),
        (b"[1]", "/0"),
        (b'{"activity": []}', "/header"),
        (b'{"header": [], "activity": []}', "/header"),
    ],
)
def test_bad_json_or_wrong_shape_is_x121_with_a_pointer(data: bytes, locator: str) -> None:
    batch = read_json_message(data)
    assert [(issue.code, issue.locator) for issue in batch.issues] == [("DH-X121", locator)]
    assert batch.frames == {}


def test_shape_errors_inside_a_message() -> None:
    document = message({"activity": [row("activity"), row("activity", observation_time="20250302000000")]})
    document["activity"].insert(1, 5)
    document["activity"][2]["step"] = {"value": 1}
    document["activity"][0]["walk_time"] = True
    document["weight"] = {"body_weight": "60.0"}
    batch = read(document)
    assert codes(batch.issues) == [
        ("DH-X121", "/activity/0/walk_time", "walk_time"),
        ("DH-X121", "/activity/1", ""),
        ("DH-X121", "/activity/2/step", "step"),
        ("DH-X121", "/weight", ""),
    ]
    assert batch.frames == {}
    assert run_json(document).received == {"activity": 3}


def test_unknown_keys_are_x116_with_their_pointer() -> None:
    document = message({"activity": [row("activity")]})
    document["activity"][0]["walktime"] = "30"
    document["header"]["sender"] = "x"
    document["steps"] = []
    batch = read(document)
    assert codes(batch.issues) == [("DH-X116", "/header/sender", "sender"), ("DH-X116", "/steps", "steps")]
    del document["header"]["sender"]
    batch = read(document)
    assert codes(batch.issues) == [("DH-X116", "/steps", "steps"), ("DH-X116", "/activity/0/walktime", "walktime")]
    assert batch.frames == {}


def test_unsupported_version_is_x124() -> None:
    batch = read(message({"activity": [row("activity")]}, header={"version": "2.0"}))
    assert [(issue.code, issue.locator, issue.value, issue.rule) for issue in batch.issues] == [
        ("DH-X124", "/header", "2.0", "1.0")
    ]
    assert batch.frames == {}


def test_header_fields_are_checked() -> None:
    document = message({"activity": [row("activity")]}, header={"send_time": "2025-06-01"})
    del document["header"]["consortium_id"]
    batch = read(document)
    assert codes(batch.issues) == [
        ("DH-X118", "/header", "send_time"),
        ("DH-X101", "/header", "consortium_id"),
    ]


def test_an_array_of_messages() -> None:
    first = message({"activity": [row("activity")]})
    second = message({"weight": [row("weight", participant_id="P002")]}, header={"participant_id": "P002"})
    broken = message({"activity": [row("activity")]}, header={"version": "9.9"})
    batch = read([first, second, broken])
    assert batch.frames["activity"][LOCATOR].to_list() == ["/0/activity/0"]
    assert batch.frames["weight"]["participant_id"].to_list() == ["P002"]
    assert batch.frames["weight"][LOCATOR].to_list() == ["/1/weight/0"]
    assert codes(batch.issues) == [("DH-X124", "/2/header", "version")]
    assert batch.header is None


def test_registries_may_be_sent_as_json() -> None:
    document = message({"participant": [row("participant")], "lab": [row("lab")]})
    document["header"]["participant_id"] = "P003"
    checked = run_json(document)
    assert checked.errors == []
    assert checked.frames["participant"]["participant_id"].to_list() == ["P003"]


def test_only_utf8_is_accepted() -> None:
    text = json.dumps(message({"lab": [row("lab")]}), ensure_ascii=False)
    assert [issue.code for issue in read_json_message(text.encode("shift_jis")).issues] == ["DH-X114"]
    assert [issue.code for issue in read_json_message(text.encode("utf-16")).issues] == ["DH-X114"]
    assert read_json_message(b"\xef\xbb\xbf" + text.encode()).issues == []


def test_a_message_without_records_is_x123() -> None:
    assert [issue.code for issue in read(message({})).issues] == ["DH-X123"]
    assert [issue.code for issue in read([]).issues] == ["DH-X123"]


def test_pointer_escapes_keys() -> None:
    assert pointer("activity", 3, "a/b~c") == "/activity/3/a~1b~0c"
    document = message({"activity": [row("activity")]})
    document["activity"][0]["x/y"] = "1"
    assert read(document).issues[0].locator == "/activity/0/x~1y"
