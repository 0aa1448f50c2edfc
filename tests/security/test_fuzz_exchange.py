"""Hostile bytes into the exchange readers (CSV, JSON message, FHIR NDJSON) and the checker behind them.

Contract (fuzz/harness.py): nothing raises; every problem is an issue with a catalogued code whose
message renders; no input keeps the reader busy for long. Inputs are the project's own synthetic
files (exchange.synth) with byte-level damage, and arbitrary bytes. Long runs: atheris (docs/fuzzing.md).
"""

from __future__ import annotations

import json

import pytest
from fuzzing import EXAMPLE_SECONDS, FUZZ, harness, mutated
from hypothesis import given
from hypothesis import strategies as st

from datahealth.exchange.fhir_import import read_fhir_ndjson

CSV_SEEDS = dict(harness.seed_csv())
JSON_SEEDS = harness.seed_json()
NDJSON_SEEDS = harness.seed_ndjson()


@FUZZ
@given(name=st.sampled_from(harness.CSV_NAMES), data=st.data())
def test_damaged_synthetic_csv_files(name: str, data: st.DataObject) -> None:
    seeds = [CSV_SEEDS.get(name) or next(iter(CSV_SEEDS.values()))]
    content = data.draw(mutated(seeds))
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_csv(name, content)


@FUZZ
@given(name=st.sampled_from(harness.CSV_NAMES), content=st.binary(max_size=2000))
def test_arbitrary_bytes_as_csv(name: str, content: bytes) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_csv(name, content)


@FUZZ
@given(content=mutated(JSON_SEEDS))
def test_damaged_synthetic_json_messages(content: bytes) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_json(content)


@FUZZ
@given(content=mutated(NDJSON_SEEDS))
def test_damaged_fhir_observations(content: bytes) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_ndjson(content)


@FUZZ
@given(content=st.binary(max_size=2000))
def test_arbitrary_bytes_as_json_and_ndjson(content: bytes) -> None:
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_json(content)
        harness.run_ndjson(content)


def test_deeply_nested_json_is_an_issue_not_a_recursion_error() -> None:
    """Found by this test: the FHIR reader let json's RecursionError escape (the batch failed as DH-G500)."""
    with harness.time_limit(EXAMPLE_SECONDS):
        harness.run_json(b"[" * 100_000 + b"]" * 100_000)
        harness.run_ndjson(b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n")
    batch = read_fhir_ndjson(b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n", "deep.ndjson")
    assert [(issue.code, issue.locator) for issue in batch.issues] == [("DH-F101", "line 1")]


def test_the_contract_check_itself_fails_on_an_escaping_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness must not swallow a crash: the checker raising is reported as ContractBroken."""

    def broken_check(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(harness, "check", broken_check)
    with pytest.raises(harness.ContractBroken):
        harness.run_csv("activity.csv", CSV_SEEDS["activity.csv"])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("status",), {"x": 1}),
        (("status",), ["final"]),
        (("resourceType",), ["Observation"]),
        (("code", "coding", 0, "code"), {"a": 1}),  # the item coding; the LOINC coding still says what it is
        (("valueQuantity", "code"), ["kg"]),
    ],
)
def test_objects_and_arrays_where_fhir_wants_a_code_are_issues(path: tuple[str | int, ...], value: object) -> None:
    """Found by atheris (fuzz_fhir_ndjson): ``{"status": {…}}`` made ``status in {…}`` raise TypeError (unhashable)."""
    observation = json.loads(NDJSON_SEEDS[0].split(b"\n")[0])
    target = observation
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    batch = read_fhir_ndjson(json.dumps(observation).encode() + b"\n", "hostile.ndjson")
    assert {issue.locator for issue in batch.issues} <= {"line 1"}
    assert {issue.code for issue in batch.issues} <= {"DH-F101", "DH-F102"}
    assert batch.issues or path[0] == "code"
    harness.run_ndjson(json.dumps(observation).encode())
