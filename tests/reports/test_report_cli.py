"""``datahealth report feedback|national`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_world import make_report_world
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from datahealth.cli import app
from datahealth.config import Settings

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    return settings


def test_one_hospital_and_the_national_report(
    env: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with session_factory.begin() as db:
        world = make_report_world(db, previous=False)
    target = tmp_path / "one.pdf"
    result = runner.invoke(app, ["report", "feedback", "--hospital", world.codes[0], "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF")

    result = runner.invoke(app, ["report", "national", "--view", "public", "--format", "xlsx", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "national-cyber-fy2024-public.xlsx").exists()


def test_errors(env: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    with session_factory.begin() as db:
        make_report_world(db, previous=False)
    assert runner.invoke(app, ["report", "feedback"]).exit_code == 2  # neither --all nor --hospital
    unknown = runner.invoke(app, ["report", "feedback", "--hospital", "9999999999", "-o", str(tmp_path / "x.pdf")])
    assert unknown.exit_code == 1 and "DH-R204" in unknown.output
    wrong_view = runner.invoke(app, ["report", "national", "--view", "secret", "-o", str(tmp_path)])
    assert wrong_view.exit_code == 1 and "DH-R203" in wrong_view.output
    no_survey = runner.invoke(app, ["report", "national", "--survey", "cyber-fy2023", "-o", str(tmp_path)])
    assert no_survey.exit_code == 1 and "DH-R205" in no_survey.output
