"""Batches in an ingest process (``DATAHEALTH_INGEST_PROCESSES``): the same results, errors and audit events as in
the web worker; a database that cannot be reached; an ingest process that dies."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from datahealth import errors
from datahealth.audit.tables import AuditEvent
from datahealth.config import Settings
from datahealth.errors import Problem, ServiceUnavailable, UnsupportedMediaType
from datahealth.exchange import synth
from datahealth.exchange.ingest_job import ACTION, Actor, IngestJob
from datahealth.exchange.ingest_pool import IngestPool
from datahealth.exchange.service import Sender, Upload
from datahealth.exchange.tables import Batch, table_for
from datahealth.startup_checks import UnsafeConfiguration, check_settings

SECRETARIAT = Sender(None, "user:admin")
WHO = Actor("token:7", "token", "192.0.2.10")


def now_for(data: synth.SynthData) -> datetime:
    return datetime.combine(data.end + timedelta(days=1), dtime(3), tzinfo=UTC)


def uploads(files: list[tuple[str, bytes]]) -> list[Upload]:
    return [Upload(name, content) for name, content in files]


@pytest.fixture
def data() -> synth.SynthData:
    return synth.generate(participants=3, days=20, consortia=("SYN01",), seed=21, errors=True)


@pytest.fixture
def pool(settings: Settings) -> Iterator[IngestPool]:
    pool = IngestPool(settings.model_copy(update={"ingest_processes": 1}), 1)
    yield pool
    pool.shutdown()


def job(data: synth.SynthData, files: list[Upload], key: str | None = None) -> IngestJob:
    return IngestJob(SECRETARIAT, files, "api", strict=False, idempotency_key=key, now=now_for(data), who=WHO)


def count(db: Session, name: str) -> int:
    return db.scalar(select(func.count()).select_from(table_for(name))) or 0


def test_a_batch_is_stored_and_audited_by_the_ingest_process(
    pool: IngestPool, data: synth.SynthData, session_factory: sessionmaker[Session]
) -> None:
    pids = asyncio.run(pool.start())
    assert len(pids) == 1 and pids[0] != os.getpid()
    result = asyncio.run(pool.run(job(data, uploads(synth.csv_files(data)), key="k-1")))

    found = sorted((i.record_type, i.source, i.locator, i.code) for i in result.issues)
    truth = sorted((p.record_type, f"{p.record_type}.csv", p.csv_locator, p.code) for p in data.planted)
    assert found == truth and result.status == "partial"
    with session_factory() as db:
        for name, frame in data.records.items():
            rejected = sum(1 for p in data.errors if p.record_type == name)
            assert count(db, name) == frame.height - rejected == result.counts[name]["stored"], name
        batch = db.get(Batch, result.batch_id)
        assert batch is not None and (batch.channel, batch.idempotency_key, batch.status) == ("api", "k-1", "partial")
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).one()
    assert (event.actor, event.role, event.address, event.outcome) == ("token:7", "token", "192.0.2.10", "success")
    assert (event.object_type, event.object_id) == ("batch", result.batch_id)
    assert event.detail["stored"] == result.total("stored") and event.at == now_for(data)


def test_ingest_processes_run_at_the_configured_lower_priority(settings: Settings) -> None:
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    for nice in (10, 0):
        pool = IngestPool(settings.model_copy(update={"ingest_processes": 1, "ingest_nice": nice}), 1)
        try:
            (pid,) = asyncio.run(pool.start())
            assert os.getpriority(os.PRIO_PROCESS, pid) == min(mine + nice, 19)
        finally:
            pool.shutdown()


def test_the_same_key_again_returns_the_first_batch(
    pool: IngestPool, data: synth.SynthData, session_factory: sessionmaker[Session]
) -> None:
    files = uploads(synth.csv_files(data))
    first = asyncio.run(pool.run(job(data, files, key="same")))
    again = asyncio.run(pool.run(job(data, files, key="same")))
    assert again.duplicate_of == first.batch_id
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Batch)) == 1


def test_a_refused_batch_comes_back_as_its_catalogued_error_and_is_audited(
    pool: IngestPool, data: synth.SynthData, session_factory: sessionmaker[Session]
) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        asyncio.run(pool.run(job(data, [Upload("notes.txt", b"weight 60")])))
    assert caught.value.code == "DH-X303" and caught.value.problems[0].params == {"value": "notes.txt"}
    with session_factory() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == ACTION)).one()
        assert db.scalar(select(func.count()).select_from(Batch)) == 0
    assert (event.outcome, event.address) == ("failure", "192.0.2.10")
    assert event.detail == {"channel": "api", "error": "DH-X303"}


def test_a_process_killed_while_idle_is_replaced(
    pool: IngestPool, data: synth.SynthData, session_factory: sessionmaker[Session]
) -> None:
    first = asyncio.run(pool.start())
    os.kill(first[0], signal.SIGKILL)
    time.sleep(1.0)  # the pool notices the death (its manager thread waits on the process)
    result = asyncio.run(pool.run(job(data, uploads(synth.csv_files(data)))))
    assert result.status == "partial"
    assert asyncio.run(pool.start()) != first
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Batch)) == 1


def test_an_unreachable_database_is_answered_dh_g503(tmp_path, data: synth.SynthData) -> None:
    closed = Settings(data_dir=tmp_path, environment="test", database_url="postgresql://nobody@127.0.0.1:9/none")
    pool = IngestPool(closed, 1)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            asyncio.run(pool.run(job(data, uploads(synth.csv_files(data)))))
    finally:
        pool.shutdown()
    assert caught.value.code == "DH-G503" and caught.value.problems[0].params == {"retry_after": 5}


def test_every_error_crosses_processes_with_its_problems() -> None:
    problem = Problem("DH-X302", {"maximum": "1 MiB"}, question="Q1", row=3, field="files")
    kinds = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DatahealthError)]
    assert len(kinds) >= 10
    for kind in kinds:
        copy = pickle.loads(pickle.dumps(kind(problem)))  # noqa: S301 - our own bytes
        assert type(copy) is kind and copy.problems == [problem] and str(copy) == str(kind(problem))
        assert pickle.loads(pickle.dumps(kind())).code == kind.default_code  # noqa: S301


def test_in_memory_sqlite_refuses_ingest_processes(tmp_path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(UnsafeConfiguration, match="DATAHEALTH_INGEST_PROCESSES"):
            check_settings(Settings(data_dir=tmp_path, database_url=url, ingest_processes=1))
    check_settings(Settings(data_dir=tmp_path, database_url="sqlite://", ingest_processes=0))
    check_settings(Settings(data_dir=tmp_path, ingest_processes=2))  # the default SQLite file is shared
