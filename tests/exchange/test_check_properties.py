"""Properties of the readers and the checker over generated input (hypothesis).

- Arbitrary bytes, text and JSON never make the readers or the checker raise: every problem is a
  catalogued issue, and every rejected row is named by at least one error.
- Random valid rows are never rejected, and what is stored is exactly what was sent.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from checker_rows import NOW, csv_bytes, registry, row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datahealth.errors import CATALOGUE
from datahealth.exchange import spec
from datahealth.exchange.check import check
from datahealth.exchange.pipeline import LOCATOR, CheckedBatch, RawBatch
from datahealth.exchange.read_csv import read_csv_files
from datahealth.exchange.read_json import read_json_message

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Each example of these runs the whole checker (tens of milliseconds), several times."""
NAMES = ["activity.csv", "participant.csv", "blood_pressure.csv", "lab.csv", "x.csv"]
TRICKY = "0123456789０１２３.,+-_ e\"'\n\r\tAZaz漢字ｱ\x00/"


def assert_sound(raw: RawBatch, checked: CheckedBatch) -> None:
    """Only catalogued codes; messages render; received = stored + rejected; rejected rows are named."""
    for issue in checked.issues:
        assert issue.code in CATALOGUE, issue
        assert issue.message("ja") and issue.message("en")
    for name, frame in checked.frames.items():
        stored = set(frame[LOCATOR].to_list())
        failing = {issue.locator for issue in checked.errors if issue.record_type == name}
        assert not stored & failing, name
        assert checked.received[name] >= frame.height
        rejected_rows = set(raw.frames[name][LOCATOR].to_list()) - stored if name in raw.frames else set()
        assert rejected_rows <= failing, (name, rejected_rows - failing)


@SETTINGS
@given(name=st.sampled_from(NAMES), data=st.binary(max_size=600))
def test_arbitrary_bytes_through_the_csv_reader_and_the_checker(name: str, data: bytes) -> None:
    raw = read_csv_files([(name, data)])
    assert_sound(raw, check(raw, registry(), sender="C01", now=NOW))


@SETTINGS
@given(
    name=st.sampled_from(NAMES[:4]),
    tail=st.text(alphabet=TRICKY, max_size=400),
)
def test_arbitrary_text_after_a_valid_header(name: str, tail: str) -> None:
    record = spec.record_type(name.removesuffix(".csv"))
    data = (",".join(record.names) + "\n" + tail).encode()
    raw = read_csv_files([(name, data)])
    assert_sound(raw, check(raw, registry(), sender="C01", now=NOW))


@FEWER
@given(
    cells=st.lists(
        st.lists(
            st.one_of(st.text(alphabet=TRICKY, max_size=20), st.sampled_from(["", "1", "12.5", "20250301000000"]))
        ),
        max_size=8,
    ),
    sender=st.sampled_from(["C01", None]),
)
def test_arbitrary_values_in_well_formed_rows(cells: list[list[str]], sender: str | None) -> None:
    names = list(spec.ACTIVITY.names)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(names)
    base = row("activity")
    for index, values in enumerate(cells):
        line = [base.get(column) or "" for column in names]
        for position, value in enumerate(values[: len(names)]):
            line[(position * 7 + index) % len(names)] = value
        writer.writerow(line)
    raw = read_csv_files([("activity.csv", out.getvalue().encode())])
    checked = check(raw, registry(), sender=sender, now=NOW)
    assert_sound(raw, checked)
    if "activity" in checked.received:
        read_rejects = {issue.params["record"] for issue in raw.issues if "record" in issue.params}
        assert checked.received["activity"] == raw.frames["activity"].height + len(read_rejects)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(alphabet=TRICKY, max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(document=json_values)
def test_arbitrary_json_through_the_reader_and_the_checker(document: Any) -> None:
    raw = read_json_message(json.dumps(document).encode())
    assert_sound(raw, check(raw, registry(), sender="C01", now=NOW))


@SETTINGS
@given(
    records=st.lists(
        st.dictionaries(
            st.sampled_from([*spec.ACTIVITY.names, "bogus"]),
            st.one_of(st.none(), st.text(alphabet=TRICKY, max_size=16), st.integers(), st.floats(allow_nan=False)),
        ),
        max_size=5,
    )
)
def test_arbitrary_records_in_a_valid_message(records: list[dict[str, Any]]) -> None:
    header = {"version": "1.0", "send_time": "20250601110000000", "consortium_id": "C01", "participant_id": "P001"}
    raw = read_json_message(json.dumps({"header": header, "activity": records}).encode())
    checked = check(raw, registry(), sender="C01", now=NOW)
    assert_sound(raw, checked)
    assert checked.received.get("activity", 0) == len(records)


# --- valid rows round-trip ---------------------------------------------------------------------------------


def _decimal(integer_digits: int) -> st.SearchStrategy[str]:
    whole = st.integers(0, 10**integer_digits - 1).map(str)
    return st.one_of(whole, st.tuples(whole, st.integers(0, 9)).map(lambda parts: f"{parts[0]}.{parts[1]}"))


def _integer(digits: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**digits - 1).map(str) | st.integers(0, 10**digits - 1).map(
        lambda value: str(value).zfill(digits)
    )


LAST = datetime(2025, 6, 1, 12, 0)  # receipt time in Japan


@st.composite
def valid_activity(draw: st.DrawFn, index: int) -> dict[str, str | None]:
    moment = datetime(2025, 1, 1) + timedelta(days=index, seconds=draw(st.integers(0, 86_399)))
    updated = draw(st.datetimes(min_value=moment, max_value=LAST)).replace(microsecond=draw(st.integers(0, 999)) * 1000)
    ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=50)
    optional_decimal = st.one_of(st.none(), _decimal(3))
    return {
        "consortium_id": "C01",
        "participant_id": "P001",
        "observation_time": moment.strftime("%Y%m%d%H%M%S"),
        "step": draw(_integer(5)),
        "walk_time": draw(_integer(4)),
        "moderate_intensity_activity": draw(_integer(4)),
        "calories": draw(_decimal(4)),
        "total_calories": draw(_decimal(4)),
        "distance": draw(_decimal(3)),
        "exercise": draw(optional_decimal),
        "physical_activity": draw(st.one_of(st.none(), _decimal(4))),
        "model_manufacturer_code": "MAKER1",
        "model_number": "AM-100",
        "production_specification_serial": draw(ascii_text),
        "total_active_duration": draw(_integer(4)),
        "data_input_code": draw(st.sampled_from(["0", "1", "2"])),
        "measurement_position_code": draw(st.sampled_from(["10", "11", "20", "21", "30", "31", "40", "50"])),
        "origin_of_time_code": draw(st.sampled_from(["0", "1"])),
        "update_time": updated.strftime("%Y%m%d%H%M%S") + f"{updated.microsecond // 1000:03d}",
    }


@st.composite
def valid_rows(draw: st.DrawFn) -> list[dict[str, str | None]]:
    count = draw(st.integers(1, 12))
    return [draw(valid_activity(index)) for index in range(count)]


def _sent(field_name: str, stored: Any) -> Any:
    """A stored value in the form to compare with the text sent."""
    if isinstance(stored, datetime):
        text = stored.strftime("%Y%m%d%H%M%S")
        return text + f"{stored.microsecond // 1000:03d}" if field_name == "update_time" else text
    if isinstance(stored, date):
        return stored.strftime("%Y%m%d")
    return stored


def _expected(field_name: str, sent: str | None) -> Any:
    kind = spec.ACTIVITY.field(field_name).kind
    if sent is None:
        return None
    if kind == "integer":
        return int(sent)
    if kind == "decimal":
        return Decimal(sent)
    return sent


@FEWER
@given(rows=valid_rows())
def test_valid_rows_are_all_stored_exactly_as_sent(rows: list[dict[str, str | None]]) -> None:
    from checker_rows import message, run_json

    for checked in (
        check(read_csv_files([("activity.csv", csv_bytes(rows))]), registry(), sender="C01", now=NOW),
        run_json(message({"activity": rows})),
    ):
        assert checked.errors == [], checked.errors[:3]
        frame = checked.frames["activity"]
        assert frame.height == len(rows)
        for sent, stored in zip(rows, frame.iter_rows(named=True), strict=True):
            for name in spec.ACTIVITY.names:
                assert _sent(name, stored[name]) == _expected(name, sent[name]), name


def test_the_generated_rows_are_in_the_participation_period() -> None:
    assert registry().participants["participation_start_date"][0] == date(2025, 1, 1)
