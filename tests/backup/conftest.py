"""Backup tests restore over the database, so each PostgreSQL test gets a database of its own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from datahealth import migrate
from datahealth.config import Settings


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture
def bk_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` on SQLite; on PostgreSQL a fresh migrated database that nothing else connects to.

    A restore renames the live database aside (``<name>_before_restore_…``); those are dropped too.
    """
    if not settings.database_url:
        yield settings
        return
    name = f"dh_bk_{uuid.uuid4().hex[:10]}"
    head = settings.database_url.rpartition("/")[0]
    admin = create_engine(_psycopg(f"{head}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(_psycopg(f"{head}/{name}"))
    migrate.upgrade(engine)
    engine.dispose()
    yield settings.model_copy(update={"database_url": f"{head}/{name}"})
    with admin.connect() as connection:
        leftovers = connection.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"), {"pattern": f"{name}%"}
        ).scalars()
        for database in list(leftovers):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    """SQLite only, for what does not depend on the engine (files, names, permissions, the CLI's defaults)."""
    data_dir = tmp_path / "sqlite-data"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "datahealth.sqlite3")
    return Settings(data_dir=data_dir, environment="test")
