"""PostgreSQL on the same machine through its Unix socket: the URL form README recommends works everywhere."""

from __future__ import annotations

import pytest
from sqlalchemy import make_url, text

from datahealth.backup.postgres_backup import libpq_env
from datahealth.config import Settings
from datahealth.db import make_engine
from datahealth.startup_checks import check_database
from datahealth.web.app import create_app


@pytest.fixture
def socket_settings(settings: Settings) -> Settings:
    url = settings.resolved_database_url()
    if not url.startswith("postgresql"):
        pytest.skip("a Unix socket URL is PostgreSQL's")
    engine = make_engine(settings)
    with engine.connect() as connection:
        directories = connection.execute(text("SHOW unix_socket_directories")).scalar_one()
        port = connection.execute(text("SHOW port")).scalar_one()
    engine.dispose()
    directory = str(directories).split(",")[0].strip()
    if not directory:
        pytest.skip("this PostgreSQL listens on no Unix socket")
    parsed = make_url(url)
    socket_url = f"postgresql://{parsed.username}@/{parsed.database}?host={directory}&port={port}"
    return settings.model_copy(update={"database_url": socket_url})


def test_the_app_and_the_backup_tools_reach_postgresql_by_its_socket(socket_settings):
    engine = make_engine(socket_settings)
    check_database(engine)  # the durability checks run over the socket too
    with engine.connect() as connection:
        over_tcp = connection.execute(text("SELECT inet_server_addr() IS NOT NULL")).scalar_one()
    engine.dispose()
    assert over_tcp is False  # a Unix-socket connection has no server address
    create_app(socket_settings)  # start-up checks and the schema check pass
    url = make_url(socket_settings.resolved_database_url())
    env = libpq_env(url)
    assert env["PGHOST"].startswith("/") and env["PGPORT"] == str(url.query["port"])
