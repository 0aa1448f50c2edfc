"""The synthetic generator: reproducible, plausible, valid unless told otherwise, and its ground truth is true."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

from datahealth.exchange import spec, synth
from datahealth.exchange.check import check
from datahealth.exchange.pipeline import CheckedBatch
from datahealth.exchange.read_csv import read_csv_files
from datahealth.exchange.read_json import read_json_message
from datahealth.exchange.registry import RegistrySnapshot, merge_registry


def now_for(data: synth.SynthData) -> datetime:
    return datetime.combine(data.end + timedelta(days=1), time(3), tzinfo=UTC)


def checked_all(data: synth.SynthData) -> CheckedBatch:
    return check(read_csv_files(synth.csv_files(data)), RegistrySnapshot.empty(), sender=None, now=now_for(data))


def test_the_same_seed_gives_the_same_data() -> None:
    first = synth.generate(participants=4, days=30, seed=11, errors=True)
    again = synth.generate(participants=4, days=30, seed=11, errors=True)
    other = synth.generate(participants=4, days=30, seed=12, errors=True)
    assert all(first.frames()[name].equals(again.frames()[name]) for name in first.frames())
    assert first.planted == again.planted
    assert not first.records["activity"].equals(other.records["activity"])


def test_shape_of_the_data() -> None:
    data = synth.generate(participants=30, days=100, consortia=("SYN01", "SYN02"), start=date(2025, 4, 1), seed=2)
    assert set(data.registries) == {record.name for record in spec.REGISTRIES}
    assert set(data.records) == {record.name for record in spec.RECORDS}
    people = 60
    assert data.registries["participant"].height == people
    assert data.registries["lab"].height == 4  # two per consortium
    assert data.records["activity"].height == people * 100  # daily
    weekly_weights = data.records["weight"].height / people / (100 / 7)
    weekly_pressures = data.records["blood_pressure"].height / people / (100 / 7)
    assert 2.5 < weekly_weights < 3.5 and 3.5 < weekly_pressures < 4.5
    hba1c = data.records["hba1c"]
    assert hba1c.height == people * 2  # baseline and three months
    assert sorted(hba1c["observation_time"].unique().to_list()) == ["20250401000000", "20250630000000"]
    steps = data.records["activity"]["step"].cast(pl.Int64)
    assert 4000 < steps.median() < 9000 and steps.max() <= 30000  # type: ignore[operator]
    for name, frame in data.frames().items():
        assert all(dtype == pl.String for dtype in frame.dtypes), name
        assert set(frame.columns) <= set(spec.record_type(name).names), name
    # every record lies within its participant's period and no later than the last day
    last = data.end.strftime("%Y%m%d")
    for name, frame in data.records.items():
        assert frame["observation_time"].str.slice(0, 8).max() <= last, name  # type: ignore[operator]
        assert (frame["update_time"].str.slice(0, 14) >= frame["observation_time"]).all(), name


def test_clean_data_passes_every_check() -> None:
    data = synth.generate(participants=10, days=40, consortia=("SYN01", "SYN02"), seed=6)
    checked = checked_all(data)
    assert checked.issues == []
    for name, frame in data.frames().items():
        assert checked.frames[name].height == frame.height, name


def test_planted_problems_are_exactly_what_the_checker_finds() -> None:
    data = synth.generate(participants=6, days=40, consortia=("SYN01", "SYN02"), seed=8, errors=True)
    assert len(data.errors) == 14 and len(data.flags) == 3
    checked = checked_all(data)
    found = {(i.record_type, i.locator, i.code): i for i in checked.issues}
    assert sorted(found) == sorted((p.record_type, p.csv_locator, p.code) for p in data.planted)
    for planted in data.planted:
        issue = found[planted.record_type, planted.csv_locator, planted.code]
        assert issue.severity == planted.severity
        assert not planted.field or issue.field == planted.field
    codes = {p.code for p in data.planted}
    assert {
        "DH-X101",
        "DH-X102",
        "DH-X103",
        "DH-X104",
        "DH-X105",
        "DH-X106",
        "DH-X107",
        "DH-X108",
        "DH-X110",
        "DH-X111",
        "DH-X112",
        "DH-X113",
        "DH-X120",
        "DH-W201",
        "DH-W202",
    } <= codes


def test_json_messages_carry_the_same_records_and_pointers() -> None:
    data = synth.generate(participants=3, days=20, seed=9, errors=True)
    messages = dict(synth.json_messages(data, datetime(2025, 2, 1, 9, 30)))
    assert len(messages) == 4  # three participants and the unknown one
    body = json.loads(messages["SYN01-P00001.json"])
    assert body["header"] == {
        "version": spec.VERSION,
        "send_time": "20250201093000000",
        "consortium_id": "SYN01",
        "participant_id": "P00001",
    }
    assert "consortium_id" not in body["activity"][0]  # taken from the header
    registry = check(
        read_csv_files(synth.csv_files(data, records=False)), RegistrySnapshot.empty(), sender=None, now=now_for(data)
    )
    snapshot = merge_registry(RegistrySnapshot.empty(), registry)
    found = set()
    for name, content in messages.items():
        checked = check(read_json_message(content, source=name), snapshot, sender=None, now=now_for(data))
        found |= {(i.source, i.locator, i.code) for i in checked.issues}
    assert found == {(f"{p.consortium_id}-{p.participant_id}.json", p.json_pointer, p.code) for p in data.planted}


def test_writing_files(tmp_path: Path) -> None:
    data = synth.generate(participants=2, days=10, seed=1, errors=False, record_types=("weight", "activity"))
    written = synth.write_files(data, tmp_path, fmt="both")
    names = {path.relative_to(tmp_path).as_posix() for path in written}
    assert {"participant.csv", "weight.csv", "activity.csv", "messages/SYN01-P00001.json"} <= names
    assert synth.TRUTH_FILE not in names  # nothing planted, no truth file
    head = (tmp_path / "weight.csv").read_text().splitlines()[0].split(",")
    assert head == list(data.records["weight"].columns)


def test_too_little_data_to_plant_is_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        synth.generate(participants=1, days=3, errors=True)
