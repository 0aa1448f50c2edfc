"""``datahealth exchange fhir-export`` writes Bulk-Data-style files that ``datahealth exchange ingest`` reads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from sqlalchemy.orm import Session, sessionmaker
from test_fhir_data import C1, seed_records, seed_registries, stored_rows
from typer.testing import CliRunner

from datahealth.config import Settings
from datahealth.exchange import fhir_map as fm
from datahealth.exchange.cli import app
from datahealth.exchange.tables import table_for

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "200")
    with session_factory.begin() as db:
        seed_registries(db)
        seed_records(db)
    return settings


def test_export_writes_one_valid_file_per_resource_type(env: Settings, tmp_path: Path) -> None:
    out = tmp_path / "bulk"
    result = runner.invoke(app, ["fhir-export", "--consortium", C1, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == ["Device.ndjson", "Observation.ndjson", "Patient.ndjson"]
    for name, model, count in (("Patient", Patient, 3), ("Device", Device, 6), ("Observation", Observation, 25)):
        lines = (out / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()
        assert len(lines) == count
        assert all(model.model_validate_json(text).id for text in lines)
        assert f"{count} {name}" in result.output


def test_one_participant_and_an_unknown_one(env: Settings, tmp_path: Path) -> None:
    result = runner.invoke(app, ["fhir-export", "--consortium", C1, "--participant", "P002", "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "Patient.ndjson").read_text().count("\n") == 1
    missing = runner.invoke(
        app, ["fhir-export", "--consortium", C1, "--participant", "Q001", "-o", str(tmp_path / "q")]
    )
    assert missing.exit_code == 1
    assert "DH-F103" in missing.output
    assert not (tmp_path / "q").exists()


def test_exported_files_ingest_back_through_the_cli(
    env: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    out = tmp_path / "bulk"
    assert runner.invoke(app, ["fhir-export", "--consortium", C1, "-o", str(out)]).exit_code == 0
    with session_factory.begin() as db:
        before = {name: stored_rows(db, name) for name in fm.RECORD_TYPES}
        for name in fm.RECORD_TYPES:
            table = table_for(name)
            db.execute(table.delete().where(table.c.consortium_id == C1))

    result = runner.invoke(app, ["ingest", str(out), "--consortium", C1])

    assert result.exit_code == 0, result.output
    with session_factory() as db:
        assert {name: stored_rows(db, name) for name in fm.RECORD_TYPES} == before
