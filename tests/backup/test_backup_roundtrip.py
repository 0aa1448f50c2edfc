"""Backup → damage → restore gives back exactly what was backed up, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from backup_data import WEIGHTS, damage, digests, fill, read_back

from datahealth.backup import postgres_backup, sqlite_backup
from datahealth.backup.common import BackupError
from datahealth.backup.manifest import find_generation
from datahealth.backup.restore import restore_generation
from datahealth.backup.snapshot import create_backup
from datahealth.backup.verify import verify_generation
from datahealth.config import Settings


def test_round_trip_loses_nothing(bk_settings: Settings, tmp_path: Path):
    filled = fill(bk_settings)
    answers_before, weights_before, opens_before = read_back(bk_settings)
    before = digests(bk_settings)
    assert before["responses"].rows == 2 and before["exch_weight"].rows == 3

    result = create_backup(bk_settings, tmp_path / "backups", keep=3, label="before-damage")
    manifest = result.manifest
    assert manifest.digests() == before
    assert manifest.alembic_revision is not None
    assert manifest.database.kind == ("postgresql" if bk_settings.database_url else "sqlite")
    assert manifest.label == "before-damage" and manifest.id.endswith("_before-damage")

    damage(bk_settings, filled)
    damaged = digests(bk_settings)
    assert damaged["responses"] != before["responses"] and damaged["exch_weight"].rows == 2

    generation = find_generation(tmp_path / "backups", "latest")
    with pytest.raises(BackupError) as refused:
        restore_generation(bk_settings, generation)
    assert refused.value.code == "DH-B106"
    assert digests(bk_settings) == damaged  # a refused restore changes nothing

    restored = restore_generation(bk_settings, generation, yes=True)
    assert restored.ok, [p.as_dict() for p in restored.before.problems()]
    assert restored.previous is not None
    assert digests(bk_settings) == before == manifest.digests()
    answers, weights, opens = read_back(bk_settings)
    assert answers == answers_before and answers["q1_2"] == "東京テスト病院 🏥「本院」"
    assert weights == weights_before == WEIGHTS  # exact decimals, in participant order
    assert opens == opens_before
    if not bk_settings.database_url:  # the replaced database was kept, complete
        previous = Path(restored.previous)
        assert previous.is_file() and previous.name.startswith("datahealth.sqlite3.before-restore-")
        assert sqlite_backup.digests_and_revision(previous)[0] == damaged
    else:
        url = postgres_backup.psycopg_url(bk_settings.database_url).set(database=restored.previous)
        assert postgres_backup.digests_of(url)[0] == damaged


def test_verify_restores_into_scratch_and_reports_every_table(settings: Settings, tmp_path: Path):
    fill(settings)
    result = create_backup(settings, tmp_path / "b", keep=2)
    report = verify_generation(settings, result.generation)
    assert report.ok
    assert {table.table for table in report.tables} == set(result.manifest.tables)
    assert any(table.table == "responses" and table.actual and table.actual.rows == 2 for table in report.tables)


def test_manifest_describes_the_dump_and_never_holds_values_or_secrets(settings: Settings, tmp_path: Path):
    fill(settings)
    result = create_backup(settings, tmp_path / "b", keep=2)
    text = (result.generation.path / "manifest.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert {"created_at", "database", "alembic_revision", "tools", "tables", "dump", "hash_method"} <= set(data)
    dump = result.generation.path / data["dump"]["file"]
    assert data["dump"]["sha256"] and data["dump"]["bytes"] == dump.stat().st_size
    assert "東京テスト病院" not in text and "山田" not in text
    tools = data["tools"]
    assert "datahealth" in tools and ("pg_dump" in tools if settings.database_url else "sqlite" in tools)
    sums = (result.generation.path / "SHA256SUMS").read_text(encoding="utf-8")
    assert f"{data['dump']['sha256']}  {data['dump']['file']}" in sums and "manifest.json" in sums


def test_restore_into_an_empty_database_needs_no_confirmation(sqlite_settings: Settings, tmp_path: Path):
    """The decision is engine-independent (PostgreSQL's row count is exercised by the refusal above)."""
    settings = sqlite_settings
    fill(settings)
    result = create_backup(settings, tmp_path / "b", keep=2)
    before = digests(settings)
    database = settings.data_dir / "datahealth.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    restored = restore_generation(settings, result.generation)
    assert restored.ok and restored.previous is None
    assert digests(settings) == before


def test_restore_stops_while_the_database_is_in_use_and_changes_nothing(
    bk_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from sqlalchemy import text

    from datahealth.backup import postgres_backup
    from datahealth.db import make_engine

    monkeypatch.setattr(postgres_backup, "IN_USE_GRACE_SECONDS", 0.5)
    filled = fill(bk_settings)
    result = create_backup(bk_settings, tmp_path / "b", keep=2)
    damage(bk_settings, filled)
    damaged = digests(bk_settings)
    server = make_engine(bk_settings)  # what a running `datahealth serve` holds: an open pooled connection
    try:
        with server.connect() as connection:
            connection.execute(text("SELECT 1"))
            with pytest.raises(BackupError) as busy:
                restore_generation(bk_settings, result.generation, yes=True)
    finally:
        server.dispose()
    assert busy.value.code == "DH-B109"
    assert digests(bk_settings) == damaged
    if not bk_settings.database_url:
        leftovers = [p.name for p in bk_settings.data_dir.iterdir() if "restore" in p.name]
    else:
        admin = make_engine(bk_settings)
        with admin.connect() as connection:
            leftovers = list(
                connection.execute(text("SELECT datname FROM pg_database WHERE datname LIKE '%restore%'")).scalars()
            )
        admin.dispose()
        leftovers = [name for name in leftovers if name.startswith(bk_settings.database_url.rpartition("/")[2])]
    assert leftovers == []  # the half-restored copy was removed


def test_a_backup_of_an_older_schema_restores_and_says_to_upgrade(tmp_path: Path):
    from datahealth import migrate
    from datahealth.db import make_engine, make_session_factory, transaction
    from factories import make_org

    old = Settings(data_dir=tmp_path / "old", environment="test")
    engine = make_engine(old)
    migrate.upgrade(engine, "0001")
    with transaction(make_session_factory(engine)) as db:
        make_org(db, code="0111111111", name="札幌テスト病院")
    engine.dispose()
    result = create_backup(old, tmp_path / "b", keep=2)
    assert result.manifest.alembic_revision == "0001" and "_r0001" in result.generation.id

    current = Settings(data_dir=tmp_path / "current", environment="test")
    engine = make_engine(current)
    migrate.upgrade(engine)
    engine.dispose()
    restored = restore_generation(current, result.generation, yes=True)
    assert restored.ok and restored.needs_upgrade and restored.head_revision == migrate.head_revision()
    engine = make_engine(current)
    migrate.upgrade(engine)
    assert migrate.is_up_to_date(engine)
    with engine.connect() as connection:
        from sqlalchemy import text

        assert connection.execute(text("SELECT name FROM organisations")).scalar_one() == "札幌テスト病院"
    engine.dispose()


def test_a_backup_only_goes_back_into_its_own_kind_of_database(
    settings: Settings, sqlite_settings: Settings, tmp_path: Path
):
    with pytest.raises(BackupError) as memory:
        create_backup(Settings(database_url="sqlite:///:memory:", data_dir=tmp_path), tmp_path / "m", keep=1)
    assert memory.value.code == "DH-B114"
    if not settings.database_url:
        pytest.skip("the other half needs PostgreSQL configured")
    lite = create_backup(sqlite_settings, tmp_path / "b", keep=2)
    with pytest.raises(BackupError) as mismatch:
        restore_generation(settings, lite.generation, yes=True)
    assert mismatch.value.code == "DH-B110"
    assert "PostgreSQL" in mismatch.value.problems[0].message("en")
