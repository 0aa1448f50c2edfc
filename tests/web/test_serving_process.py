"""What ``datahealth serve`` sets up in a serving process: garbage collection and the polars thread pool.

Both are process-wide, so the checks of their effect run in a fresh interpreter, not in the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from datahealth.cli import app as cli
from datahealth.config import Settings

SETTLED = """
import gc
from datahealth.web.heap import SERVING_THRESHOLDS, settle_heap

class Node:
    def __init__(self):
        self.me = self

kept = [Node() for _ in range(1000)]
settle_heap()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold() == SERVING_THRESHOLDS, gc.get_threshold()
garbage = [Node() for _ in range(500)]  # cycles made after start-up are still collected
del garbage
assert gc.collect() >= 500
print("ok")
"""

LIFESPAN = """
import gc, sys
from fastapi.testclient import TestClient
from datahealth.config import Settings
from datahealth.web.app import create_app

serving = sys.argv[1] == "serving"
before = gc.get_freeze_count()
with TestClient(create_app(Settings(), serving=serving)) as client:
    assert client.get("/login").status_code == 200
    print(gc.get_freeze_count() > before, gc.get_threshold()[0])
"""


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_settling_freezes_the_start_up_heap_and_still_collects_later_garbage():
    assert _python(SETTLED) == "ok"


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAHEALTH_")}
    env.update(
        DATAHEALTH_DATA_DIR=str(settings.data_dir),
        DATAHEALTH_ENVIRONMENT="test",
        DATAHEALTH_SECRET_KEY=settings.secret_key.get_secret_value(),
    )
    if settings.database_url:
        env["DATAHEALTH_DATABASE_URL"] = settings.database_url
    return env


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_only_a_serving_app_settles_the_heap_when_it_starts(settings):
    env = _environment(settings)
    frozen, young = _python(LIFESPAN, "serving", env=env).split()
    assert frozen == "True" and int(young) == 20_000
    frozen, young = _python(LIFESPAN, "test", env=env).split()
    assert frozen == "False" and int(young) == 700  # CPython's default: tests build many apps in one process


class _Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.polars_threads: list[str | None] = []

    def __call__(self, target: Any, **options: Any) -> None:
        self.calls.append((target, options))
        self.polars_threads.append(os.environ.get("POLARS_MAX_THREADS"))


@pytest.fixture
def served(settings, monkeypatch):
    """``datahealth serve`` with uvicorn replaced by a recorder; the app factory's ``serving`` flags kept."""
    import uvicorn

    import datahealth.web.app as web_app

    for name, value in _environment(settings).items():
        if name.startswith("DATAHEALTH_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("POLARS_MAX_THREADS", "placeholder")  # monkeypatch restores the variable afterwards
    monkeypatch.delenv("POLARS_MAX_THREADS")
    recorded = _Recorded()
    monkeypatch.setattr(uvicorn, "run", recorded)
    flags: list[bool] = []
    real = web_app.create_app

    def create_app(settings: Settings, *args: Any, serving: bool = False, **kwargs: Any) -> Any:
        flags.append(serving)
        return real(settings, *args, serving=serving, **kwargs)

    monkeypatch.setattr(web_app, "create_app", create_app)
    return recorded, flags


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_one_worker_serves_the_settled_app_itself(served):
    recorded, flags = served
    result = CliRunner().invoke(cli, ["serve", "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert flags == [True]
    target, options = recorded.calls[0]
    assert not isinstance(target, str) and options["port"] == 8765
    assert recorded.polars_threads == [None]  # polars is loaded already in this process: nothing to set


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_workers_share_the_cores_for_polars_unless_told_otherwise(served, monkeypatch):
    recorded, flags = served
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert flags == [False]  # the parent only checks the set-up; each worker builds its own (serving) app
    target, options = recorded.calls[0]
    assert target == "datahealth.web.app:app_from_environment" and options["workers"] == 2
    assert recorded.polars_threads == [str(max(1, (os.cpu_count() or 1) // 2))]
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert recorded.polars_threads[-1] == "3"


def test_the_worker_factory_builds_a_serving_app(monkeypatch):
    import datahealth.web.app as web_app

    seen: list[bool] = []
    monkeypatch.setattr(web_app, "create_app", lambda _settings, serving=False: seen.append(serving))
    monkeypatch.setattr(web_app, "Settings", lambda: None)
    web_app.app_from_environment()
    assert seen == [True]

