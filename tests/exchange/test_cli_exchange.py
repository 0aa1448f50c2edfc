"""``datahealth exchange ingest | consortium add | synth`` as an operator uses them: output and exit codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from datahealth.auth.passwords import activation_digest
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.exchange.cli import app
from datahealth.exchange.tables import Batch, table_for

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that Rich never wraps a table cell


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    return settings


def scalar(settings: Settings, statement: object) -> object:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as db:
            return db.scalar(statement)  # type: ignore[call-overload]
    finally:
        engine.dispose()


def records(settings: Settings, name: str) -> int:
    return int(scalar(settings, select(func.count()).select_from(table_for(name))) or 0)  # type: ignore[arg-type]


def synth_files(tmp_path: Path, *options: str) -> Path:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["synth", str(out), "--participants", "3", "--days", "20", "--consortia", "2", *options]
    )
    assert result.exit_code == 0, result.output
    return out


def registries(out: Path) -> list[str]:
    names = ("consortium", "device", "hba1c_method", "activity_recording", "lab", "participant")
    return [str(out / f"{name}.csv") for name in names]


def test_synth_writes_csv_json_and_the_ground_truth(tmp_path: Path) -> None:
    out = synth_files(tmp_path, "--errors", "--format", "both", "--seed", "9")
    names = sorted(path.name for path in out.iterdir() if path.is_file())
    assert names == sorted(
        f"{n}.csv"
        for n in (
            "consortium",
            "device",
            "hba1c_method",
            "activity_recording",
            "lab",
            "participant",
            "weight",
            "blood_pressure",
            "activity",
            "hba1c",
            "clinic_blood_pressure",
        )
    )
    assert len(list((out / "messages").glob("*.json"))) == 7  # 6 participants + the unknown one
    truth = list(csv.DictReader(io.StringIO((out / "truth" / "planted.csv").read_text())))
    assert {"DH-X103", "DH-X113", "DH-W201", "DH-W202", "DH-X120"} <= {row["code"] for row in truth}


def test_ingest_registries_then_records_with_errors(env: Settings, tmp_path: Path) -> None:
    out = synth_files(tmp_path, "--errors")
    first = runner.invoke(app, ["ingest", *registries(out)])
    assert first.exit_code == 0, first.output
    assert "受付完了 accepted" in first.output and "participant" in first.output

    report = tmp_path / "errors.csv"
    second = runner.invoke(app, ["ingest", str(out), "--show", "3", "--report", str(report)])
    assert second.exit_code == 1, second.output  # records were rejected
    assert "一部不受理 partial" in second.output
    truth = list(csv.DictReader(io.StringIO((out / "truth" / "planted.csv").read_text())))
    assert f"ほか {len(truth) - 3:,} 件" in second.output  # the rest is in the report
    printed = [line for line in second.output.splitlines() if line.startswith(("DH-X", "DH-W"))]
    assert len(printed) == 3
    assert "：" in printed[0]  # Japanese first …
    assert "line" in second.output  # … then English on the next line
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert sorted((r["source"], r["locator"], r["code"]) for r in rows if r["code"] != "DH-X120") == sorted(
        (f"{t['record_type']}.csv", t["csv_locator"], t["code"]) for t in truth if t["code"] != "DH-X120"
    )
    assert records(env, "activity") > 0


def test_ingest_as_a_consortium_and_strict_mode(env: Settings, tmp_path: Path) -> None:
    out = synth_files(tmp_path, "--errors")
    assert runner.invoke(app, ["ingest", *registries(out)]).exit_code == 0
    strict = runner.invoke(app, ["ingest", str(out / "activity.csv"), "--strict"])
    assert strict.exit_code == 1 and "DH-X203" in strict.output
    assert records(env, "activity") == 0

    as_consortium = runner.invoke(app, ["ingest", str(out / "device.csv"), "--consortium", "SYN01"])
    assert as_consortium.exit_code == 1 and "DH-X205" in as_consortium.output


def test_the_same_idempotency_key_stores_nothing_again(env: Settings, tmp_path: Path) -> None:
    out = synth_files(tmp_path)
    assert runner.invoke(app, ["ingest", *registries(out)]).exit_code == 0
    args = ["ingest", str(out / "weight.csv"), "--idempotency-key", "week-1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    batches = scalar(env, select(func.count()).select_from(Batch))
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "DH-X204" in again.output and "duplicate of batch" in again.output
    assert scalar(env, select(func.count()).select_from(Batch)) == batches


@pytest.mark.parametrize(
    "args",
    [
        ["ingest", "no-such-file.csv"],
        ["ingest", "{tmp}/book.xlsx"],
        ["ingest", "{tmp}/out", "--consortium", "NOSUCH"],
        ["ingest"],
    ],
)
def test_usage_errors_exit_2(env: Settings, tmp_path: Path, args: list[str]) -> None:
    synth_files(tmp_path)
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    result = runner.invoke(app, [arg.replace("{tmp}", str(tmp_path)) for arg in args])
    assert result.exit_code == 2, result.output
    assert scalar(env, select(func.count()).select_from(Batch)) == 0


def test_consortium_add_prints_a_one_time_code(env: Settings) -> None:
    result = runner.invoke(app, ["consortium", "add", "C01", "テスト健康コンソーシアム"])
    assert result.exit_code == 0, result.output
    code = next(line.split(": ")[-1].strip() for line in result.output.splitlines() if "activation code" in line)
    engine = make_engine(env)
    with make_session_factory(engine)() as db:
        org = db.scalar(select(Organisation).where(Organisation.kind == OrgKind.CONSORTIUM, Organisation.code == "C01"))
        assert org is not None and org.name == "テスト健康コンソーシアム"
        user = db.scalar(select(User).where(User.organisation_id == org.id))
        assert user is not None and user.role == Role.CONSORTIUM and user.login_id == "cc01"
        assert user.password_hash is None and user.activation_code_hash == activation_digest(code)
    engine.dispose()
    assert code not in (user.activation_code_hash or "")
    again = runner.invoke(app, ["consortium", "add", "C01", "重複"])
    assert again.exit_code == 1 and "DH-X305" in again.output
