"""CLI: synth claims → analyze link → analyze trajectory writes the table and chart."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from datahealth.cli import app


def test_synth_link_trajectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHEALTH_LINKAGE_KEY", "cli-test-key")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    data = tmp_path / "data"
    result = runner.invoke(
        app, ["synth", "claims", "--persons", "1500", "--out", str(data), "--cohort-fraction", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert (data / "raw" / "medical" / "part-0.parquet").exists()
    result = runner.invoke(app, ["analyze", "link", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "medical" in result.output
    result = runner.invoke(app, ["analyze", "trajectory", "--data", str(data), "--cohort", "stroke"])
    assert result.exit_code == 0, result.output
    assert (data / "output" / "stroke.svg").exists()
    assert "経過月" in (data / "output" / "stroke.csv").read_text(encoding="utf-8")


def test_trajectory_without_linked_data_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", "trajectory", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "DH-L104" in result.output


def test_report_scoring_all(synth_dir: Path, linked_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "scoring"
    result = runner.invoke(app, ["report", "scoring", "--data", str(synth_dir), "--all", "--no-pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("scoring_06*.html"))) >= 12
    result = runner.invoke(
        app, ["report", "scoring", "--data", str(synth_dir), "--insurer", "99999999", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "DH-L106" in result.output
