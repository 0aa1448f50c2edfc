"""The exchange API and upload form with ``DATAHEALTH_INGEST_PROCESSES=1``: the same answers as in the web worker,
processes started and stopped with the app, and an ingest process killed in the middle of a batch."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient
from test_exchange_api import Hub, activity_csv, activity_row, auth, error_code, make_hub
from test_exchange_api import test_idempotency_key_returns_the_first_result as idempotency_key_returns_the_first
from test_exchange_api import test_strict_mode_stores_nothing_when_anything_is_wrong as strict_mode_stores_nothing

from datahealth.audit.tables import AuditEvent
from datahealth.config import Settings
from datahealth.exchange.ingest_job import ACTION
from datahealth.exchange.tables import ApiToken, Batch
from datahealth.web.app import create_app
from web_client import MovableClock

BATCHES = "/api/v1/exchange/batches"


@pytest.fixture
def hub(session_factory: sessionmaker[Session]) -> Hub:
    return make_hub(session_factory)


@pytest.fixture
def pooled_app(settings: Settings, clock: MovableClock) -> FastAPI:
    return create_app(settings.model_copy(update={"ingest_processes": 1}), clock=clock)


@pytest.fixture
def pooled_api(pooled_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(pooled_app, base_url="http://testserver") as client:
        yield client


def ingest_pids(app: FastAPI) -> list[int]:
    pool = app.state.datahealth.ingest_pool
    assert pool is not None
    return list(pool.pids)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_processes_start_and_stop_with_the_app(pooled_app: FastAPI, hub: Hub, session_factory) -> None:
    content = activity_csv(activity_row("CONSA", "P001", "20250110"))
    with TestClient(pooled_app, base_url="http://testserver") as api:
        pids = ingest_pids(pooled_app)
        assert len(pids) == 1 and pids[0] != os.getpid() and not gone(pids[0])
        sent = api.post(BATCHES, headers=auth(hub.token_a), files=[("files", ("activity.csv", content))])
        assert sent.status_code == 201 and sent.json()["status"] == "accepted"
    deadline = time.monotonic() + 30
    while not gone(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pids[0])
    with session_factory() as db:
        token_id = db.scalars(select(ApiToken.id).where(ApiToken.consortium_id == "CONSA", ApiToken.name == "nightly"))
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).one()
        assert (event.actor, event.object_id, event.address) == (
            f"token:{token_id.one()}",
            sent.json()["batch_id"],
            "testclient",
        )


def test_the_idempotency_key_answers_as_in_the_web_worker(pooled_api: TestClient, hub: Hub, session_factory) -> None:
    idempotency_key_returns_the_first(pooled_api, hub, session_factory)


def test_strict_mode_answers_as_in_the_web_worker(pooled_api: TestClient, hub: Hub) -> None:
    strict_mode_stores_nothing(pooled_api, hub)


def test_an_ingest_process_killed_mid_batch_is_a_503_and_nothing_is_stored(
    settings: Settings, pooled_app: FastAPI, hub: Hub, session_factory
) -> None:
    if not settings.database_url:
        pytest.skip("PostgreSQL only: the test holds a table lock to catch the batch inside its transaction")
    url = "postgresql+psycopg://" + settings.database_url.split("://", 1)[1]
    locker = create_engine(url)
    content = activity_csv(activity_row("CONSA", "P001", "20250110"))
    with TestClient(pooled_app, base_url="http://testserver") as api, ThreadPoolExecutor(1) as thread:
        pid = ingest_pids(pooled_app)[0]
        with locker.connect() as lock:
            lock.execute(text("LOCK TABLE exch_batches IN EXCLUSIVE MODE"))  # reads go on; the batch's INSERT waits
            pending = thread.submit(
                api.post, BATCHES, headers=auth(hub.token_a), files=[("files", ("activity.csv", content))]
            )
            _wait_for_a_blocked_insert(lock, pending)
            os.kill(pid, signal.SIGKILL)
            lock.rollback()
        answer = pending.result(timeout=60)
        assert answer.status_code == 503, answer.text[:500]
        assert error_code(answer) == "DH-X309"
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["problems"][0]["message_ja"].startswith("送信データの処理が中断されました")
        with session_factory() as db:
            assert db.scalar(select(func.count()).select_from(Batch)) == 0  # its transaction died with it
            event = db.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).one()
        assert (event.outcome, event.object_id) == ("failure", "CONSA")
        assert event.detail == {"channel": "api", "error": "DH-X309"}

        again = api.post(BATCHES, headers=auth(hub.token_a), files=[("files", ("activity.csv", content))])
        assert again.status_code == 201 and again.json()["counts"]["activity"]["stored"] == 1  # a new process
    locker.dispose()


def _wait_for_a_blocked_insert(lock, pending) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lock.execute(text("SELECT pg_stat_clear_snapshot()"))  # the view is a snapshot per transaction otherwise
        waiting = lock.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%INSERT INTO exch_batches%'"
            )
        ).scalar_one()
        if waiting:
            return
        if pending.done():
            raise AssertionError(f"answered before it reached the database: {pending.result()}")
        time.sleep(0.02)
    seen = lock.execute(text("SELECT pid, state, wait_event_type, left(query, 80) FROM pg_stat_activity")).all()
    raise AssertionError(f"the batch never reached its INSERT: {seen}")
