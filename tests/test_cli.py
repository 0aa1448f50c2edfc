"""The command line as an operator uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from datahealth.cli import app
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Survey
from datahealth.survey.xlsform import read_xlsform

runner = CliRunner()
SEED_CODES = [
    "Q1-1",
    "Q1-2",
    "Q2-1",
    "Q2-2",
    "Q2-3",
    "Q2-3 その他",
    "Q3",
    "Q4",
    "Q5",
    "Q6",
    "Q7-1",
    "Q7-2",
    "Q8",
    "Q9",
    "Q10",
    "Q11",
    "Q12",
    "Q13",
    "Q14",
    "Q15",
    "Q16",
    "Q17-1",
    "Q17-2",
    "Q17-3",
    "Q17-4",
    "Q17-5",
    "Q17-6",
]
CONDITIONS = {
    "Q2-2": "${q2_1} = 'yes'",
    "Q2-3": "${q2_2} = 'yes'",
    "Q7-2": "${q7_1} = 'yes'",
    "Q17-2": "${q17_1} = 'yes'",
    "Q17-3": "${q17_2} = 'yes'",
    "Q17-4": "${q17_2} = 'yes'",
    "Q17-5": "${q17_2} = 'yes'",
    "Q17-6": "${q17_2} = 'yes'",
}


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATAHEALTH_SECRET_KEY", settings.secret_key.get_secret_value())
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    return settings


def test_export_of_bundled_survey_lists_every_seed_question_with_its_condition():
    result = runner.invoke(app, ["survey", "export", "cyber-fy2024"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    questions = [q for s in data["sections"] for q in s["questions"] if q["type"] != "note"]
    assert [q["code"] for q in questions] == SEED_CODES
    conditions = {q["code"]: q["relevant"] for q in questions if "relevant" in q}
    assert {k: v for k, v in conditions.items() if k in CONDITIONS} == CONDITIONS
    assert set(conditions) - set(CONDITIONS) == {"Q2-3 その他"}


def test_export_as_xlsform_round_trips(tmp_path: Path):
    target = tmp_path / "fy2024.xlsx"
    result = runner.invoke(app, ["survey", "export", "cyber-fy2024", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert read_xlsform(target) == load_bundled("cyber-fy2024")


def test_show_lists_codes_and_conditions():
    result = runner.invoke(app, ["survey", "show", "cyber-fy2024"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for code in ("Q2-2", "Q17-6"):
        assert code in result.stdout
    assert "${q17_2} = 'yes'" in result.stdout


def test_validate_reports_catalogued_problems(tmp_path: Path):
    good = runner.invoke(app, ["survey", "validate", "cyber-fy2024"])
    assert good.exit_code == 0 and "OK" in good.stdout
    data = load_bundled("cyber-fy2024").model_dump(mode="json", exclude_none=True)
    data["sections"][1]["questions"][1]["relevant"] = "${q99} = 'yes'"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["survey", "validate", str(broken)])
    assert result.exit_code == 1
    assert "DH-D104" in result.stderr
    missing = runner.invoke(app, ["survey", "validate", str(tmp_path / "nope.xlsx")])
    assert missing.exit_code == 2


def test_db_upgrade_then_survey_import_and_hospitals_import(env: Settings, tmp_path: Path):
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(
        app, ["survey", "import", "cyber-fy2024", "--opens", "2026-01-26", "--closes", "2026-03-06", "--open"]
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["survey", "import", "cyber-fy2024"])
    assert again.exit_code == 1 and "DH-S208" in again.stderr
    hospitals = tmp_path / "hospitals.csv"
    hospitals.write_text(
        "institution_code,name,prefecture,bed_count,founder_type\n"
        "1311234567,東京テスト病院,13,200,medical_corporation\n",
        encoding="utf-8",
    )
    accounts = tmp_path / "accounts.csv"
    imported = runner.invoke(app, ["hospitals", "import", str(hospitals), "--accounts-out", str(accounts)])
    assert imported.exit_code == 0, imported.output
    assert "h1311234567" in accounts.read_text(encoding="utf-8-sig")
    assert accounts.stat().st_mode & 0o077 == 0  # codes are readable by the owner only
    engine = make_engine(env)
    with make_session_factory(engine)() as db:
        survey = db.scalar(select(Survey))
        assert survey is not None and survey.status == "open" and str(survey.opens_on) == "2026-01-26"
    engine.dispose()


def test_hospitals_import_error_exit_code(env: Settings, tmp_path: Path):
    runner.invoke(app, ["db", "upgrade"])
    bad = tmp_path / "bad.csv"
    bad.write_bytes("医療機関コード,医療機関名\n".encode("shift_jis"))
    result = runner.invoke(app, ["hospitals", "import", str(bad)])
    assert result.exit_code == 1
    assert "DH-I10" in result.stderr
