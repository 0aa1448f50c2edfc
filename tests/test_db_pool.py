"""PostgreSQL connections the server dropped are replaced without restarting the app (pinged only when idle)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from datahealth import db as database
from datahealth.config import Settings
from datahealth.db import make_engine


@pytest.fixture
def pg_settings(settings: Settings) -> Settings:
    if not settings.resolved_database_url().startswith("postgresql"):
        pytest.skip("the pool's ping is PostgreSQL's")
    return settings


def _terminate_pool_backend(settings: Settings, pid: int) -> None:
    other = make_engine(settings)
    with other.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_at_checkout(pg_settings, monkeypatch):
    engine = make_engine(pg_settings)
    with engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate_pool_backend(pg_settings, first)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # the connection counts as idle: pinged
    with engine.connect() as connection:
        second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert second != first
    engine.dispose()


def test_a_busy_connection_is_not_pinged_and_a_broken_one_invalidates_the_pool(pg_settings, monkeypatch):
    engine = make_engine(pg_settings)
    with engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate_pool_backend(pg_settings, first)
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)  # just used: no ping at checkout
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # answered 503 by the web app
    with engine.connect() as connection:  # the pool was invalidated: a new connection, no restart
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    engine.dispose()
