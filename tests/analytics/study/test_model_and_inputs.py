"""Study definitions, allocation files and validation CSVs: valid input accepted, bad input catalogued."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
from sqlalchemy.orm import Session

from datahealth.analytics.study import accuracy, synth
from datahealth.analytics.study.model import dump_definition, load_definition
from datahealth.analytics.study.registry import generate_allocation, load_study, register_study
from datahealth.errors import Conflict, DatahealthError, DefinitionError, NotFound, ValidationFailed
from datahealth.exchange.service import Sender, Upload, ingest

START = date(2025, 4, 1)
NOW = datetime(2025, 9, 1, tzinfo=UTC)


def definition_text() -> str:
    return dump_definition(synth.default_definition(START, ("SYN01",)))


def test_a_definition_round_trips_through_yaml():
    definition = load_definition(definition_text())
    assert definition.primary.code == "m3"
    assert definition.stratum_of("0") == "no_medication" and definition.stratum_of("9") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("reference_arm: control", "reference_arm: placebo"), "-"),
        (("target_days: 45", "target_days: 80"), "-"),  # overlapping windows
        (("start_date: '2025-04-01'", "start_date: '2025-02-30'"), "start_date"),
        (("code: SYNTH-STUDY", "code: 'bad code!'"), "code"),
    ],
)
def test_a_bad_definition_names_the_problem(change: tuple[str, str], field: str):
    text = definition_text()
    assert change[0] in text
    with pytest.raises(DefinitionError) as raised:
        load_definition(text.replace(*change), "study.yaml")
    assert raised.value.code == "DH-T101"
    message = raised.value.problems[0].message("ja")
    assert "study.yaml" in message and (field == "-" or field in message)


def test_generated_allocation_is_balanced_within_strata():
    definition = synth.default_definition(START, ("SYN01",))
    participants = pl.DataFrame(
        {
            "consortium_id": ["SYN01"] * 40,
            "participant_id": [f"P{i:05d}" for i in range(40)],
            "medication_code": ["0"] * 24 + ["1"] * 16,
        }
    )
    allocation = generate_allocation(definition, participants)
    counts = allocation.with_columns(med=participants["medication_code"]).group_by("med", "arm").len()
    assert sorted(counts["len"].to_list()) == [8, 8, 12, 12]
    assert generate_allocation(definition, participants).equals(allocation)  # same seed, same arms


def _register_participants(db: Session) -> synth.SynthStudy:
    study = synth.generate_study(participants=12, start=START, seed=5)
    files = [Upload(name, content) for name, content in study.files if name in ("consortium.csv", "participant.csv")]
    assert ingest(db, Sender(None, "test"), files, channel="cli", now=NOW).status == "accepted"
    return study


def test_allocation_file_rows_are_checked_and_nothing_is_stored(db: Session):
    study = _register_participants(db)
    bad = b"consortium_id,participant_id,arm\nSYN01,P00001,intervention\nSYN01,P00001,control\nSYN01,P99999,x\n"
    with pytest.raises(ValidationFailed) as raised:
        register_study(db, study.definition, now=NOW, allocation_csv=bad, allocation_name="alloc.csv")
    codes = {(p.code, p.row, p.field) for p in raised.value.problems}
    assert codes == {("DH-T104", 3, "participant_id"), ("DH-T104", 4, "participant_id"), ("DH-T104", 4, "arm")}
    with pytest.raises(NotFound):
        load_study(db, study.definition.code)
    good = b"consortium_id,participant_id,arm\n" + b"".join(
        f"SYN01,P{i:05d},{'intervention' if i % 2 else 'control'}\n".encode() for i in range(1, 13)
    )
    register_study(db, study.definition, now=NOW, allocation_csv=good, allocation_name="alloc.csv")
    assert load_study(db).allocation.height == 12
    with pytest.raises(Conflict):
        register_study(db, study.definition, now=NOW)


def test_validation_csv_accepts_the_generated_set():
    frame = accuracy.read_validation_csv(synth.validation_csv(np.random.default_rng(1)))
    assert frame.height == 6 * 12 * 5


def test_validation_csv_reports_every_bad_row():
    content = (
        "product_code,product_name,participant_id,trial,device_steps,reference_steps\n"
        "A,製品A,V001,1,950,1000\n"
        "A,製品A,V001,1,951,1000\n"
        "A,製品A,V002,1,９５０,1000\n"
        "A,製品A,V003,1,950,0\n"
        "A,製品A,V004,1,-3,1000\n"
    ).encode()
    with pytest.raises(ValidationFailed) as raised:
        accuracy.read_validation_csv(content, "v.csv")
    found = {(p.code, p.row, p.field) for p in raised.value.problems}
    assert found == {
        ("DH-T114", 3, "trial"),
        ("DH-T112", 4, "device_steps"),
        ("DH-T113", 5, "reference_steps"),
        ("DH-T112", 6, "device_steps"),
    }
    assert "v.csv" in raised.value.problems[0].message("ja")
    with pytest.raises(ValidationFailed) as missing:
        accuracy.read_validation_csv(b"product_code,device_steps\nA,1\n")
    assert {p.field for p in missing.value.problems} == {"product_name", "participant_id", "trial", "reference_steps"}


def test_accuracy_statistics_on_known_values():
    rows = [("X", "X", f"V{p}", t, d, 1000) for p, t, d in [(1, 1, 990), (1, 2, 1010), (2, 1, 950), (2, 2, 1050)]]
    frame = pl.DataFrame(rows, schema=list(accuracy.COLUMNS), orient="row")
    row = accuracy.accuracy(frame).row(0, named=True)
    assert row["mean_error"] == pytest.approx(0.0)
    assert row["within_jis"] == pytest.approx(50.0)
    assert row["bias_steps"] == pytest.approx(0.0)
    assert row["loa_high"] == pytest.approx(1.96 * np.std([-10, 10, -50, 50], ddof=1))
    assert row["participant_range_steps"] == pytest.approx(0.0)


def test_every_study_error_code_is_catalogued():
    from datahealth.errors import CATALOGUE

    for code in ("DH-T101", "DH-T102", "DH-T103", "DH-T104", "DH-T111", "DH-T112", "DH-T113", "DH-T114", "DH-T121"):
        assert code in CATALOGUE
    assert issubclass(ValidationFailed, DatahealthError)
