"""Exchange batches in their own processes (``DATAHEALTH_INGEST_PROCESSES``), away from the web's saves.

A batch costs tens of milliseconds of Python (reading, polars checks, storing) per few records. In a web worker
it runs in a thread next to the hospitals' survey saves and takes Python's interpreter lock from them in 5 ms
slices; under load their latency grows in waves around every batch (docs/benchmarks.md, sessions 5 and 6). In
an ingest process it competes for the cores only, where the operating system's scheduler lets the short
requests of the web workers go first.

Each web worker process keeps ``ingest_processes`` processes (started with ``spawn``: the web worker has
threads), each with its own database engine; a job (``ingest_job.IngestJob``) is pickled to one of them and
its result or catalogued error comes back. What does not change: one transaction per batch with its audit
event, the idempotency key, the errors and their HTTP statuses. A database that cannot be reached is answered
503 (DH-G503) as in the web worker. If an ingest process dies (killed, out of memory), the batch's transaction
was rolled back or had committed; the request is answered 503 (DH-X309: send again, the idempotency key and the
update-time rule store nothing twice) and the next batch gets a new process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.errors import RETRY_AFTER_SECONDS, Problem, ServiceUnavailable
from datahealth.exchange.ingest_job import IngestJob, run_job
from datahealth.exchange.service import IngestResult

logger = logging.getLogger(__name__)

_sessions: sessionmaker[Session] | None = None
"""The ingest process's own session factory (set by ``_start_process``)."""


class IngestInterrupted(ServiceUnavailable):
    """The ingest process ended before it answered: the batch may or may not be stored; sending it again is safe."""

    default_code = "DH-X309"


def _start_process(settings: Settings) -> None:
    """Initializer of an ingest process: its engine and its lower priority (``ingest_nice``); Ctrl-C in the
    terminal is for the web worker, which stops it."""
    global _sessions  # noqa: PLW0603 - one factory per ingest process, made once
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if settings.ingest_nice and hasattr(os, "nice"):
        os.nice(settings.ingest_nice)
    _sessions = make_session_factory(make_engine(settings))


def _run(job: IngestJob) -> IngestResult:
    """In the ingest process: the job, with the database's own errors replaced by DH-G503 (they do not pickle
    reliably, and their messages may quote the batch's values)."""
    if _sessions is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("ingest process without a database")
    try:
        return run_job(_sessions, job)
    except (OperationalError, InterfaceError, PoolTimeout):
        raise ServiceUnavailable(Problem("DH-G503", {"retry_after": RETRY_AFTER_SECONDS})) from None


def _ready() -> int:
    return os.getpid()


class IngestPool:
    """``processes`` ingest processes of one web worker; made at start-up, stopped at shutdown."""

    def __init__(self, settings: Settings, processes: int) -> None:
        if processes < 1:
            raise ValueError("an ingest pool needs at least one process")
        self.settings = settings
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.pids: list[int] = []
        """The processes that answered ``start`` (for diagnostics and tests)."""

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_process,
                    initargs=(self.settings,),
                )
            return self._executor

    async def start(self) -> list[int]:
        """Start every process now (each imports the exchange code and connects: about a second), so the first
        batch does not wait for it. Returns the ids of the processes that answered."""
        pool = self._pool()
        futures = [asyncio.wrap_future(pool.submit(_ready)) for _ in range(self.processes)]
        self.pids = sorted(set(await asyncio.gather(*futures)))
        return self.pids

    async def run(self, job: IngestJob) -> IngestResult:
        """The job's result, or its ``UserError`` / ``ServiceUnavailable`` raised here."""
        pool = self._pool()
        try:
            future = pool.submit(_run, job)
        except BrokenProcessPool:  # a process died while idle (killed): nothing was sent to it, start new ones
            self._discard(pool)
            pool = self._pool()
            future = pool.submit(_run, job)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:
            logger.error("an ingest process ended while it held a batch; starting new ones")  # noqa: TRY400
            self._discard(pool)
            raise IngestInterrupted(Problem("DH-X309", {"retry_after": RETRY_AFTER_SECONDS})) from None

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is pool:
                self._executor = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        """Let the batches in progress finish, then stop the processes."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
