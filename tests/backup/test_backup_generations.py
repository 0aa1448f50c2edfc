"""Generations: retention, read-only marks, the offline copy, damaged backups, unusable locations."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backup_data import fill

from datahealth.backup.common import MANIFEST_NAME, SUMS_NAME, BackupError
from datahealth.backup.manifest import find_generation, list_generations
from datahealth.backup.snapshot import copy_generation, create_backup, locked
from datahealth.backup.verify import verify_generation
from datahealth.config import Settings

T0 = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_retention_keeps_exactly_n_and_every_kept_generation_is_read_only(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    directory = tmp_path / "backups"
    made = [create_backup(settings, directory, keep=3, now=T0 + timedelta(days=day)) for day in range(5)]
    kept = list_generations(directory)
    assert [g.id for g in kept] == [r.generation.id for r in made[-3:]]
    assert made[3].deleted == [made[0].generation.id] and made[4].deleted == [made[1].generation.id]
    assert not (directory / made[0].generation.id).exists()
    for generation in kept:
        assert mode(generation.path) == 0o550  # no write bits for anyone, nothing for others
        assert {mode(child) for child in generation.path.iterdir()} == {0o440}
        assert {child.name for child in generation.path.iterdir()} == {"database.sqlite3.gz", MANIFEST_NAME, SUMS_NAME}
    assert not [child for child in directory.iterdir() if child.name.startswith(".tmp-")]
    assert mode(directory) == 0o750  # created by the backup: not readable by others


def test_generation_names_carry_time_kind_and_revision_and_never_collide(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    first = create_backup(settings, tmp_path / "b", keep=5, now=T0)
    second = create_backup(settings, tmp_path / "b", keep=5, now=T0)
    labelled = create_backup(settings, tmp_path / "b", keep=5, now=T0, label="before upgrade/v2")
    assert first.generation.id == f"20250301T150000Z_sqlite_r{first.manifest.alembic_revision}"
    assert second.generation.id == first.generation.id + "_2"
    assert labelled.generation.id == first.generation.id + "_before-upgrade-v2"
    assert find_generation(tmp_path / "b", None).id == labelled.generation.id


def test_offline_copy_is_identical_verified_and_read_only(settings: Settings, tmp_path: Path):
    fill(settings)
    offline = tmp_path / "offline"
    result = create_backup(settings, tmp_path / "backups", keep=2, copy_to=offline)
    assert result.copy is not None and result.copy.path == offline / result.generation.id
    for child in result.generation.path.iterdir():
        copied = offline / result.generation.id / child.name
        assert copied.read_bytes() == child.read_bytes()
        assert mode(copied) == 0o440
    assert mode(result.copy.path) == 0o550
    assert verify_generation(settings, find_generation(offline, result.generation.id)).ok
    again = copy_generation(result.generation, offline, keep=2)
    assert again.already_present


def test_offline_copy_keeps_n_generations_too(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    for day in range(3):
        create_backup(settings, tmp_path / "b", keep=2, copy_to=tmp_path / "usb", now=T0 + timedelta(days=day))
    assert len(list_generations(tmp_path / "usb")) == 2


def test_a_changed_byte_in_the_dump_fails_verification_with_the_checksum_code(settings: Settings, tmp_path: Path):
    fill(settings)
    result = create_backup(settings, tmp_path / "b", keep=2)
    dump = result.generation.path / result.manifest.dump.file
    dump.chmod(0o644)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    with pytest.raises(BackupError) as failed:
        verify_generation(settings, find_generation(tmp_path / "b", "latest"))
    assert failed.value.code == "DH-B102"


def test_a_manifest_that_lies_about_a_table_is_caught_table_by_table(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    fill(settings)
    result = create_backup(settings, tmp_path / "b", keep=2)
    path = result.generation.path
    path.chmod(0o755)
    (path / MANIFEST_NAME).chmod(0o644)
    tables = dict(result.manifest.tables)
    tables["responses"] = tables["responses"].model_copy(update={"rows": 3})
    forged = result.manifest.model_copy(update={"tables": tables})
    (path / MANIFEST_NAME).write_text(forged.model_dump_json(indent=2), encoding="utf-8")
    with pytest.raises(BackupError) as tampered:
        verify_generation(settings, find_generation(tmp_path / "b", "latest"))
    assert tampered.value.code == "DH-B102"  # SHA256SUMS no longer matches the manifest
    (path / SUMS_NAME).chmod(0o644)
    (path / SUMS_NAME).unlink()  # someone who also removes the sums still cannot fool the content check
    report = verify_generation(settings, find_generation(tmp_path / "b", "latest"))
    assert not report.ok
    assert [p.code for p in report.problems()] == ["DH-B108"]
    assert [t.table for t in report.tables if not t.ok] == ["responses"]


def test_missing_or_corrupt_manifest_and_unknown_generation_have_codes(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    result = create_backup(settings, tmp_path / "b", keep=2)
    with pytest.raises(BackupError) as unknown:
        find_generation(tmp_path / "b", "20990101T000000Z_sqlite_r0002")
    assert unknown.value.code == "DH-B107"
    with pytest.raises(BackupError) as empty:
        find_generation(tmp_path / "nothing-here", None)
    assert empty.value.code == "DH-B111"
    path = result.generation.path
    path.chmod(0o755)
    for child in path.iterdir():
        child.chmod(0o644)
    (path / SUMS_NAME).unlink()
    (path / MANIFEST_NAME).write_text("{not json", encoding="utf-8")
    generation = find_generation(tmp_path / "b", result.generation.id)
    assert generation.manifest is None and generation.problem
    with pytest.raises(BackupError) as corrupt:
        verify_generation(settings, generation)
    assert corrupt.value.code == "DH-B103"
    (path / MANIFEST_NAME).unlink()
    with pytest.raises(BackupError) as missing:
        verify_generation(settings, find_generation(tmp_path / "b", result.generation.id))
    assert missing.value.code == "DH-B103"


def test_an_unusable_location_is_reported_before_anything_is_dumped(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(BackupError) as failed:
        create_backup(settings, blocker / "backups", keep=2)
    assert failed.value.code == "DH-B101"
    good = create_backup(settings, tmp_path / "b", keep=2)
    with pytest.raises(BackupError) as offline:
        copy_generation(good.generation, blocker / "usb", keep=2)
    assert offline.value.code == "DH-B101"


def test_one_backup_at_a_time_and_leftovers_of_a_crash_are_cleared(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    directory = tmp_path / "b"
    directory.mkdir()
    with locked(directory), pytest.raises(BackupError) as busy:
        create_backup(settings, directory, keep=2)
    assert busy.value.code == "DH-B115"
    half = directory / ".tmp-crashed"
    half.mkdir()
    (half / "database.sqlite3.gz").write_bytes(b"partial")
    create_backup(settings, directory, keep=2)
    assert not half.exists()
    assert len(list_generations(directory)) == 1


def test_a_backup_that_fails_its_verification_pushes_no_good_generation_out(
    sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from datahealth.backup import snapshot
    from datahealth.backup.verify import Check, VerifyReport

    settings = sqlite_settings
    good = [create_backup(settings, tmp_path / "b", keep=2, now=T0 + timedelta(days=day)) for day in range(2)]

    def failing(_settings: Settings, generation, _notify=None) -> VerifyReport:  # a restore that went wrong
        assert generation.manifest is not None
        return VerifyReport(generation.id, generation.manifest, checks=[Check("検査", "check", ok=False)])

    monkeypatch.setattr(snapshot, "verify_generation", failing)
    bad = create_backup(settings, tmp_path / "b", keep=2, copy_to=tmp_path / "usb", verify=True, now=T0 + timedelta(3))
    assert not bad.ok and bad.deleted == [] and bad.copy is None
    assert {r.generation.id for r in good} <= {g.id for g in list_generations(tmp_path / "b")}
    assert not (tmp_path / "usb").exists()
