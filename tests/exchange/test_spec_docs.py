"""The published specification and JSON Schema are generated from the code and committed unchanged."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from datahealth.cli import app
from datahealth.exchange import spec
from datahealth.exchange.spec_docs import (
    MARKDOWN_NAME,
    SCHEMA_NAME,
    generated_files,
    render_markdown,
    render_schema,
    value_pattern,
)
from datahealth.exchange.spec_model import Kind, Need

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_docs_equal_the_generated_ones() -> None:
    for name, content in generated_files().items():
        assert (DOCS / name).read_text(encoding="utf-8") == content, f"run `datahealth exchange spec` ({name})"


def test_markdown_lists_every_record_type_and_field() -> None:
    text = render_markdown()
    for record in spec.ALL:
        assert f'<a id="type-{record.name}"></a>' in text
        for field in record.fields:
            assert f"| `{field.name}` |" in text
    # The seed's own rows keep their digits, marks and sources.
    assert "| `step` | 数値（整数）<br>integer | 5 | ● |" in text
    assert "| `calories` | 数値（XXXX.X）<br>decimal (XXXX.X) | 6 | ▲ |" in text
    assert "規約表 / seed table" in text and "本ハブで定義 / defined here" in text
    assert '<a id="codes-measurement_position_code"></a>' in text
    assert "| `50` | その他 | Other |" in text
    assert "| DH-X109 |" in text and "| DH-W201 |" in text


def _message() -> dict[str, Any]:
    """A synthetic, valid message (strings as the specification sends them; one number accepted)."""
    return {
        "header": {
            "version": "1.0",
            "send_time": "20250301090000000",
            "consortium_id": "CONSA",
            "participant_id": "P0001",
        },
        "weight": [
            {
                "observation_time": "20250228071500",
                "body_weight": "61.5",
                "model_manufacturer_code": "M01",
                "model_number": "SC-1",
                "production_specification_serial": "CONSA0001",
                "data_input_code": "0",
                "origin_of_time_code": "0",
                "update_time": "20250228071600000",
            }
        ],
        "activity": [
            {
                "consortium_id": "CONSA",
                "participant_id": "P0001",
                "observation_time": "20250228000000",
                "step": 8123,
                "walk_time": "95",
                "calories": "1234.5",
                "total_calories": None,
                "model_manufacturer_code": "M01",
                "model_number": "HealthKit 1.2",
                "production_specification_serial": "00:11:22:33:44:55",
                "total_active_duration": "1440",
                "data_input_code": "0",
                "measurement_position_code": "30",
                "origin_of_time_code": "0",
                "update_time": "20250301085959000",
            }
        ],
        "hba1c": [
            {
                "observation_time": "20250210000000",
                "hba1c": "6.4",
                "lab_id": "LAB01",
                "hba1c_method_code": "HPLC1",
                "data_input_code": "1",
                "update_time": "20250211120000000",
            }
        ],
    }


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads((DOCS / SCHEMA_NAME).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_schema_accepts_a_synthetic_message(validator: Draft202012Validator) -> None:
    errors = list(validator.iter_errors(_message()))
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("activity", 0, "step"), "123456"),  # 6 digits
        (("activity", 0, "step"), "８１２３"),  # full-width digits
        (("activity", 0, "step"), 100000),
        (("activity", 0, "calories"), "12345.6"),  # XXXX.X at most
        (("activity", 0, "data_input_code"), "3"),  # not in the code list
        (("activity", 0, "measurement_position_code"), "12"),
        (("activity", 0, "observation_time"), "2025022800000"),  # 13 digits
        (("activity", 0, "observation_time"), "20251328000000"),  # month 13
        (("activity", 0, "update_time"), "20250301085959"),  # 14, not 17
        (("activity", 0, "model_number"), "x" * 51),
        (("activity", 0, "model_number"), "機器"),  # device codes are ASCII
        (("activity", 0, "unknown_field"), "1"),
        (("header", "consortium_id"), "consa"),
        (("header", "version"), "one"),
        (("weight", 0, "body_weight"), None),  # required
    ],
)
def test_schema_rejects_what_the_specification_forbids(
    validator: Draft202012Validator, path: tuple[str | int, ...], value: object
) -> None:
    message = copy.deepcopy(_message())
    target: Any = message
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert list(validator.iter_errors(message)), f"{path} = {value!r} should be refused"


def test_schema_requires_the_header_and_required_fields(validator: Draft202012Validator) -> None:
    message = _message()
    del message["header"]
    assert list(validator.iter_errors(message))
    message = _message()
    del message["activity"][0]["step"]
    assert list(validator.iter_errors(message))
    message = _message()
    del message["weight"][0]["consortium_id" if "consortium_id" in message["weight"][0] else "update_time"]
    assert list(validator.iter_errors(message))


def test_schema_follows_the_field_definitions() -> None:
    schema = render_schema()
    activity = schema["$defs"]["activity"]
    assert "consortium_id" not in activity["required"]  # comes from the header in JSON
    assert "consortium_id" in schema["$defs"]["csv_activity"]["required"]
    for record in spec.RECORDS:
        definition = schema["$defs"][record.name]
        for field in record.fields:
            assert field.name in definition["properties"]
            if field.need == Need.REQUIRED and field.name not in ("consortium_id", "participant_id"):
                assert field.name in definition["required"]
            if field.need == Need.CONDITIONAL:
                assert field.name not in definition["required"]
    assert value_pattern(spec.ACTIVITY.field("step")) == "[0-9]{1,5}"
    assert value_pattern(spec.ACTIVITY.field("calories")) == r"[0-9]{1,4}(\.[0-9]{1,1})?"
    assert spec.ACTIVITY.field("step").kind == Kind.INTEGER


def test_cli_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["exchange", "spec", "--check", "--out-dir", str(tmp_path)])
    assert result.exit_code == 1
    result = runner.invoke(app, ["exchange", "spec", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8") == render_markdown()
    result = runner.invoke(app, ["exchange", "spec", "--check", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0
    (tmp_path / SCHEMA_NAME).write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["exchange", "spec", "--check", "--out-dir", str(tmp_path)])
    assert result.exit_code == 1 and SCHEMA_NAME in result.output
