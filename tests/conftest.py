"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL runs when ``DATAHEALTH_TEST_POSTGRES_URL`` points at a server where the test user may
create databases (``scripts/test.sh`` starts one). Under CI the variable is mandatory, so a missing
server fails the run instead of silently skipping half the suite.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from datahealth import migrate
from datahealth.config import Settings
from datahealth.db import Base, make_engine, make_session_factory
from factories import SECRET_KEY

POSTGRES_URL = os.environ.get("DATAHEALTH_TEST_POSTGRES_URL", "")

if os.environ.get("CI") and not POSTGRES_URL:
    raise RuntimeError("CI needs DATAHEALTH_TEST_POSTGRES_URL: run the suite through scripts/test.sh")

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    directory = tmp_path_factory.mktemp("template")
    settings = Settings(data_dir=directory, environment="test")
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    return directory / "datahealth.sqlite3"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set DATAHEALTH_TEST_POSTGRES_URL or run scripts/test.sh)")
    name = f"datahealth_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_psycopg(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = _with_database(POSTGRES_URL, name)
    engine = create_engine(_psycopg(url))
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _psycopg(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one test on one backend, with an empty migrated database."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, data_dir / "datahealth.sqlite3")
        return Settings(data_dir=data_dir, environment="test", secret_key=SecretStr(SECRET_KEY))
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(_psycopg(url))
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :g)"), {"g": "0" * 64})
    engine.dispose()
    return Settings(data_dir=data_dir, environment="test", database_url=url, secret_key=SecretStr(SECRET_KEY))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A plain session; tests commit explicitly when they need to."""
    session = session_factory()
    yield session
    session.rollback()
    session.close()
