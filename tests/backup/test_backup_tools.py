"""pg_dump/pg_restore: found for the server's version, given the password only by environment, errors scrubbed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from datahealth.backup import postgres_backup
from datahealth.backup.common import BackupError, scrub
from datahealth.backup.postgres_backup import Tool, find_tool, libpq_env, psycopg_url, run_tool

SECRET = "s3cret-pa55word"


def fake_tool(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_libpq_environment_carries_the_connection_and_the_command_line_does_not():
    url = psycopg_url(f"postgresql://app:{SECRET}@db.example:6543/datahealth?sslmode=verify-full")
    env = libpq_env(url)
    assert env["PGPASSWORD"] == SECRET and env["PGHOST"] == "db.example" and env["PGPORT"] == "6543"
    assert env["PGUSER"] == "app" and env["PGDATABASE"] == "datahealth" and env["PGSSLMODE"] == "verify-full"
    assert libpq_env(url, "scratch")["PGDATABASE"] == "scratch"
    assert "PGPASSWORD" not in libpq_env(psycopg_url("postgresql://app@db.example/datahealth"))


def test_tool_errors_never_show_the_password():
    assert SECRET not in scrub(f"connection to db failed: password={SECRET} for user app", [SECRET])
    assert SECRET not in scrub(f"FATAL: bad {SECRET}", [SECRET])


def test_bindir_setting_is_used_and_checked(tmp_path: Path):
    fake_tool(tmp_path / "bin", "pg_dump", "16.4")
    found = find_tool("pg_dump", 16, tmp_path / "bin")
    assert found.path == tmp_path / "bin" / "pg_dump" and found.version == "16.4"
    with pytest.raises(BackupError) as too_old:
        find_tool("pg_dump", 17, tmp_path / "bin")  # a client older than the server cannot dump it
    assert too_old.value.code == "DH-B104" and "16.4" in too_old.value.problems[0].message("en")
    with pytest.raises(BackupError) as missing:
        find_tool("pg_restore", 16, tmp_path / "bin")
    assert missing.value.code == "DH-B104"


def test_version_specific_directories_come_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    debian = tmp_path / "usr/lib/postgresql/{major}/bin"
    fake_tool(Path(str(debian).format(major=15)), "pg_dump", "15.8")
    fake_tool(Path(str(debian).format(major=17)), "pg_dump", "17.2")
    fake_tool(tmp_path / "path", "pg_dump", "13.1")
    monkeypatch.setattr(postgres_backup, "_TOOL_DIRS", (str(debian),))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert find_tool("pg_dump", 15, None).version == "15.8"  # the server's own major first
    assert find_tool("pg_dump", 16, None).version == "17.2"  # else a newer one
    with pytest.raises(BackupError):
        find_tool("pg_dump", 18, None)
    monkeypatch.setattr(postgres_backup, "_TOOL_DIRS", (str(tmp_path / "none/{major}/bin"),))
    assert find_tool("pg_dump", 12, None).version == "13.1"  # PATH last, if new enough
    with pytest.raises(BackupError):
        find_tool("pg_dump", 14, None)


@pytest.mark.skipif(not os.environ.get("DATAHEALTH_TEST_POSTGRES_URL"), reason="needs PostgreSQL")
def test_a_failing_pg_dump_reports_its_stderr_without_the_password(tmp_path: Path):
    base = psycopg_url(os.environ["DATAHEALTH_TEST_POSTGRES_URL"])
    url = base.set(password=SECRET, database="no_such_database_here")
    tool = find_tool("pg_dump", 10, None)
    with pytest.raises(BackupError) as failed:
        run_tool(tool, ["--format=custom", "--no-password", f"--file={tmp_path / 'x'}"], libpq_env(url), [SECRET])
    assert failed.value.code == "DH-B105"
    message = failed.value.problems[0].message("en")
    assert "no_such_database_here" in message and SECRET not in message


def test_debian_server_package_brings_client_tools_for_its_version():
    """What scripts/test.sh relies on: pg_dump and pg_restore next to the server's initdb."""
    majors = postgres_backup.installed_majors()
    if not majors:
        pytest.skip("no PostgreSQL installed in the usual places")
    for name in ("pg_dump", "pg_restore"):
        tool: Tool = find_tool(name, majors[-1], "")  # an empty DATAHEALTH_PG_BINDIR means "search"
        assert tool.major >= majors[-1]
