"""``datahealth synth study`` then ``datahealth report study``: the report from the hub's own data."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from datahealth.cli import app
from datahealth.config import Settings

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    if settings.database_url:  # one backend is enough for the command line shell
        pytest.skip("CLI shell tested on SQLite; the services are tested on both backends")
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATAHEALTH_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("COLUMNS", "200")
    return settings


def test_synth_then_report(cli_env: Settings, tmp_path: Path):
    made = runner.invoke(app, ["synth", "study", str(tmp_path / "files"), "--participants", "40", "--seed", "4"])
    assert made.exit_code == 0, made.output
    assert "accepted" in made.output and "SYNTH-STUDY" in made.output
    assert (tmp_path / "files" / "hba1c.csv").exists() and (tmp_path / "files" / "study" / "truth.json").exists()
    assert (cli_env.data_dir / "studies" / "SYNTH-STUDY" / "validation.csv").exists()

    report = runner.invoke(app, ["report", "study", "-o", str(tmp_path / "report"), "--no-pdf"])
    assert report.exit_code == 0, report.output
    html = (tmp_path / "report" / "study-SYNTH-STUDY.html").read_text(encoding="utf-8")
    assert "HbA1c の変化" in html and "製品A" in html and "継続率" in html
    assert (cli_env.data_dir / "snapshot" / "manifest.json").exists()


def test_register_refuses_a_bad_definition(cli_env: Settings, tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text("code: X\ntitle_ja: x\n", encoding="utf-8")
    result = runner.invoke(app, ["study", "register", str(path)])
    assert result.exit_code == 1
    assert "DH-T101" in result.output


def test_report_without_a_study_says_so(cli_env: Settings, tmp_path: Path):
    result = runner.invoke(app, ["report", "study", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "DH-T102" in result.output
