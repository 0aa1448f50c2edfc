"""The platform refuses unsafe settings and databases at start-up, with a message saying what to change."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from datahealth.config import Settings
from datahealth.startup_checks import UnsafeConfiguration, check_database, check_settings
from datahealth.web.app import create_app


def test_production_needs_a_secret_https_and_postgresql():
    with pytest.raises(UnsafeConfiguration) as caught:
        check_settings(Settings(environment="production"))
    message = str(caught.value)
    assert "DATAHEALTH_SECRET_KEY" in message and "DATAHEALTH_SECURE_COOKIES" in message
    assert "DATAHEALTH_DATABASE_URL" in message
    check_settings(Settings(environment="production", secret_key=SecretStr("x" * 40), secure_cookies=True,
                            database_url="postgresql://db/datahealth"))
    check_settings(Settings(environment="development"))  # development runs with defaults


def test_production_app_does_not_start_with_defaults(tmp_path):
    with pytest.raises(UnsafeConfiguration):
        create_app(Settings(environment="production", data_dir=tmp_path))


def test_postgresql_that_could_lose_commits_is_refused(settings):
    if not settings.database_url:
        pytest.skip("PostgreSQL only")
    url = "postgresql+psycopg://" + settings.database_url.split("://", 1)[1]
    check_database(create_engine(url))
    unsafe = create_engine(url, connect_args={"options": "-c synchronous_commit=off"})
    with pytest.raises(UnsafeConfiguration, match="synchronous_commit=off"):
        check_database(unsafe)
    unsafe.dispose()
