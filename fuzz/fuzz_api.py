"""Long schemathesis run against a real server on loopback: ``scripts/fuzz_api.sh [EXAMPLES] [SECONDS]``.

Builds the API fuzz world (fuzz/api_world.py) in a fresh SQLite database (or, with
``DATAHEALTH_FUZZ_POSTGRES_URL``, in a fresh database on that PostgreSQL server, dropped afterwards),
serves the app with uvicorn on 127.0.0.1 at a free port, and runs ``schemathesis run`` over every
``/api/`` operation of its OpenAPI document twice: as a consortium (may send batches) and as a
researcher (reads every consortium). Every phase (examples, coverage, fuzzing, stateful), positive and
negative data, every check, plus ``api_checks.no_hidden_internal_error``. Reports (JUnit, NDJSON) go to
``var/fuzz-api/``. The exit code is non-zero when schemathesis found anything.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import uvicorn
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from datahealth import migrate
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.web.app import create_app

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from api_world import build_api_world  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _settings(data_dir: Path, postgres: str | None) -> tuple[Settings, str | None]:
    secret = SecretStr("fuzz-" + "x" * 40)
    if not postgres:
        return Settings(data_dir=data_dir, environment="test", secret_key=secret), None
    name = f"datahealth_fuzz_{uuid.uuid4().hex[:10]}"
    admin = create_engine("postgresql+psycopg://" + postgres.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = postgres.rpartition("/")[0] + "/" + name
    return Settings(data_dir=data_dir, environment="test", database_url=url, secret_key=secret), name


def _drop(postgres: str, name: str) -> None:
    admin = create_engine("postgresql+psycopg://" + postgres.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=1000, help="maximum examples per operation and phase")
    parser.add_argument("--max-time", type=int, default=0, help="time budget of each schemathesis run, seconds")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--report-dir", type=Path, default=Path("var/fuzz-api"))
    args = parser.parse_args()
    postgres = os.environ.get("DATAHEALTH_FUZZ_POSTGRES_URL")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="datahealth-fuzz-") as scratch:
        settings, database = _settings(Path(scratch), postgres)
        try:
            engine = make_engine(settings)
            migrate.upgrade(engine)
            world = build_api_world(make_session_factory(engine))
            engine.dispose()
            port = _free_port()
            server = uvicorn.Server(
                uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.1)
            try:
                ids = f"participant_id={world.participant_id};batch_id={world.batch_id}"
                for who, token in (("consortium", world.consortium_token), ("researcher", world.researcher_token)):
                    failed |= _schemathesis(port, who, token, ids, args)
            finally:
                server.should_exit = True
                thread.join(timeout=30)
        finally:
            if postgres and database:
                _drop(postgres, database)
    return failed


def _schemathesis(port: int, who: str, token: str, ids: str, args: argparse.Namespace) -> int:
    report_dir = args.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"http://127.0.0.1:{port}/openapi.json",
        "--include-path-regex", "^/api/",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(args.examples),
        "--seed", str(args.seed),
        "--workers", "1",
        "--request-timeout", "60",
        "--suppress-health-check", "all",
        "--report", "junit,ndjson",
        "--report-dir", str(report_dir / who),
    ]  # fmt: skip
    if args.max_time:
        command += ["--max-time", str(args.max_time)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "api_checks",
        "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path]),
        "DATAHEALTH_FUZZ_IDS": ids,
    }
    print(f"== schemathesis as {who} (token not shown)", flush=True)  # noqa: T201
    started = time.monotonic()
    # cwd: schemathesis keeps its cache (.schemathesis/) in the working directory; keep it with the reports
    done = subprocess.run(command, env=env, cwd=report_dir, check=False)  # noqa: S603 - our own argv, loopback only
    print(f"== {who}: exit {done.returncode} after {time.monotonic() - started:.0f} s", flush=True)  # noqa: T201
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
