"""Hostile text into the survey expression evaluator and hostile files into the survey definition importers.

Contract (fuzz/harness.py): ``parse``/``evaluate`` raise nothing but ``ExpressionError`` (reported as
DH-D103 by the loader) and stay fast; a YAML, JSON or XLSForm upload gives a definition or a
``DefinitionError`` with catalogued codes. Inputs: the bundled FY2024 definition and its expressions,
damaged, and arbitrary text. Long runs: atheris (docs/fuzzing.md).
"""

from __future__ import annotations

import io
import zipfile

import pytest
from fuzzing import EXAMPLE_SECONDS, FUZZ, harness, mutated
from hypothesis import given
from hypothesis import strategies as st

from datahealth.errors import DefinitionError
from datahealth.survey.io import load_definition_bytes

EXPRESSIONS = harness.seed_expressions()
DEFINITIONS = dict(harness.seed_definitions())
PIECES = [
    "${a}",
    "${",
    "}",
    ".",
    "(",
    ")",
    ",",
    " and ",
    " or ",
    " div ",
    " mod ",
    "-",
    "+",
    "*",
    "=",
    "!=",
    "<",
    ">=",
    "'",
    '"',
    "if(",
    "selected(",
    "count-selected(",
    "round(",
    "concat(",
    "number(",
    "1e5",
    "0.",
    "１",
    "\u3000",
    "9" * 400,
    "((((((((((",
    "not(",
    "true()",
    "\x00",
]


@FUZZ
@given(
    source=st.one_of(
        st.sampled_from(EXPRESSIONS).flatmap(
            lambda seed: st.lists(st.sampled_from(PIECES), max_size=8).map(lambda extra: seed + "".join(extra))
        ),
        st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=60).map("".join),
        st.text(max_size=300),
    ),
    current=st.text(max_size=40),
)
def test_expressions_raise_only_expression_errors(source: str, current: str) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_expression(source, current)


def test_the_longest_and_deepest_expressions_are_cheap() -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_expression("(" * 10_000 + "1" + ")" * 10_000)
        harness.run_expression("-" * 1999 + "1")
        harness.run_expression(" + ".join(["${a}"] * 400))
        harness.run_expression("concat(" + ", ".join(["'x'"] * 600) + ")")


@FUZZ
@given(name=st.sampled_from(["survey.yaml", "survey.json"]), data=st.data())
def test_damaged_yaml_and_json_definitions(name: str, data: st.DataObject) -> None:
    content = data.draw(mutated([DEFINITIONS[name]]))
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_definition(name, content)


@FUZZ
@given(name=st.sampled_from(harness.DEFINITION_NAMES), content=st.binary(max_size=1000))
def test_arbitrary_bytes_as_a_definition(name: str, content: bytes) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_definition(name, content)


def _damaged_xlsx(offset: int) -> bytes:
    """The FY2024 XLSForm with one byte of the survey sheet's compressed data changed (CRC no longer matches)."""
    data = bytearray(DEFINITIONS["survey.xlsx"])
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    start = header + 30 + name_length + extra_length
    data[start + offset % info.compress_size] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize("offset", [7, 500, 1001])
def test_a_damaged_xlsform_sheet_is_dh_d101(offset: int) -> None:
    """Found by atheris: openpyxl reads sheets lazily, so BadZipFile/zlib errors escaped as crashes."""
    with pytest.raises(DefinitionError) as raised:
        load_definition_bytes(_damaged_xlsx(offset), "survey.xlsx")
    assert raised.value.code == "DH-D101"
