"""``datahealth backup …`` and ``datahealth restore`` as an operator (or cron) runs them: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from backup_data import damage, digests, fill
from typer.testing import CliRunner

from datahealth.backup.manifest import list_generations
from datahealth.cli import app
from datahealth.config import Settings

runner = CliRunner()


def use(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("COLUMNS", "200")
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATAHEALTH_DATABASE_URL", raising=False)


def test_backup_verify_restore_cycle_and_exit_codes(
    bk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    use(bk_settings, monkeypatch)
    filled = fill(bk_settings)
    before = digests(bk_settings)
    backups, offline = tmp_path / "backups", tmp_path / "offline"

    made = runner.invoke(app, ["backup", "--dir", str(backups), "--keep", "2", "--copy-to", str(offline), "--verify"])
    assert made.exit_code == 0, made.output
    generation = list_generations(backups)[-1].id
    assert generation in made.stdout and "DH-" not in made.output
    assert (offline / generation / "SHA256SUMS").is_file()

    assert "responses" in made.stdout and "一致しました / matches its manifest" in made.stdout  # --verify's report

    listed = runner.invoke(app, ["backup", "list", "--dir", str(backups)])
    assert listed.exit_code == 0 and generation in listed.stdout

    unknown = runner.invoke(app, ["backup", "verify", "20990101T000000Z_sqlite_r0002", "--dir", str(backups)])
    assert unknown.exit_code == 1 and "DH-B107" in unknown.stderr

    damage(bk_settings, filled)
    refused = runner.invoke(app, ["restore", "latest", "--dir", str(backups)])
    assert refused.exit_code == 1 and "DH-B106" in refused.stderr
    restored = runner.invoke(app, ["restore", generation, "--dir", str(backups), "--yes"])
    assert restored.exit_code == 0, restored.output
    after = digests(bk_settings)
    data = {name: digest for name, digest in after.items() if not name.startswith("audit_")}
    assert data == {name: digest for name, digest in before.items() if not name.startswith("audit_")}
    assert after["audit_events"].rows == before["audit_events"].rows + 1  # the restore itself is audited

    from_offline = runner.invoke(app, ["backup", "verify", str(offline / generation)])
    assert from_offline.exit_code == 0, from_offline.output


def test_verify_exit_code_on_a_damaged_generation(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    use(sqlite_settings, monkeypatch)
    backups = tmp_path / "backups"
    for _ in range(2):
        assert runner.invoke(app, ["backup", "--dir", str(backups)]).exit_code == 0
    oldest = list_generations(backups)[0].path
    oldest.chmod(0o755)
    dump = oldest / "database.sqlite3.gz"
    dump.chmod(0o644)
    dump.write_bytes(dump.read_bytes()[:-10] + b"0123456789")
    result = runner.invoke(app, ["backup", "verify", "--all", "--dir", str(backups)])
    assert result.exit_code == 1
    assert result.stderr.count("DH-B102") == 1  # the other generation still verifies
    assert "一致しました / matches its manifest" in result.stdout


def test_defaults_come_from_the_settings(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    settings = sqlite_settings
    use(settings, monkeypatch)
    monkeypatch.setenv("DATAHEALTH_BACKUP_KEEP", "2")
    for _ in range(3):
        assert runner.invoke(app, ["backup"]).exit_code == 0
    assert len(list_generations(settings.data_dir / "backups")) == 2
    monkeypatch.setenv("DATAHEALTH_BACKUP_DIR", str(tmp_path / "elsewhere"))
    assert runner.invoke(app, ["backup", "create", "--label", "nightly"]).exit_code == 0
    assert [g.id.endswith("_nightly") for g in list_generations(tmp_path / "elsewhere")] == [True]
    copied = runner.invoke(app, ["backup", "copy", "--to", str(tmp_path / "usb")])
    assert copied.exit_code == 0, copied.output
    assert len(list_generations(tmp_path / "usb")) == 1
    empty = runner.invoke(app, ["backup", "verify", "--dir", str(tmp_path / "none")])
    assert empty.exit_code == 1 and "DH-B111" in empty.stderr
