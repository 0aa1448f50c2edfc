"""Survey operations at national scale: announce a survey to 8,000 hospitals, remind, deliver the mail.

    python benchmarks/operations_mail.py [--hospitals 8000] [--postgres postgresql://…/postgres]

Loads the demo, then through the real services: opens the demo's draft survey and announces it (one notice
and one queued e-mail per hospital), runs "remind now" for every non-submitter of the open FY2024 survey,
and delivers the whole outbox over SMTP to a local aiosmtpd sink on 127.0.0.1 (same process, so the
figure includes the receiving side). Wall and CPU time (this process) are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from bench_common import print_table, scratch_postgres
from sqlalchemy import func, select

from datahealth import migrate
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.demo import load_demo
from datahealth.operations import notices, reminders, worker
from datahealth.operations.demo import DEMO_SURVEY_ID, load_operations_demo
from datahealth.operations.sink import MailSink
from datahealth.operations.tables import OutboxMessage
from datahealth.survey import service
from datahealth.survey.tables import Survey, SurveyStatus

NOW = datetime(2025, 2, 14, 3, tzinfo=UTC)


def timed(label: str, rows: list[tuple[str, str]], fn: Callable[[], object]) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    rows.append((label, f"{time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU"))
    print(*rows[-1], sep=": ", flush=True)  # partial results survive an interrupted run
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(settings: Settings, hospitals: int, backend: str, sink_dir: Path) -> list[tuple[str, str]]:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    rows: list[tuple[str, str]] = []
    with transaction(factory) as db:
        load_demo(db, hospitals=hospitals, seed=2024, today=date(2025, 2, 14))
        load_operations_demo(db, today=date(2025, 2, 14), now=NOW)

    def announce() -> object:
        with transaction(factory) as db:
            survey = db.scalars(select(Survey).where(Survey.survey_key == DEMO_SURVEY_ID)).one()
            service.set_status(db, survey, SurveyStatus.OPEN)
            return notices.announce_open(db, survey, "http://127.0.0.1:8000", NOW)

    told = timed(f"{backend}: open + announce ({hospitals:,} notices and e-mails)", rows, announce)

    def remind() -> object:
        with transaction(factory) as db:
            survey = db.scalars(select(Survey).where(Survey.survey_key == "cyber-fy2024")).one()
            return reminders.remind_now(db, survey, "http://127.0.0.1:8000", NOW)

    run_ = timed(f"{backend}: remind now (every non-submitter)", rows, remind)
    with factory() as db:
        queued = db.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    sink = MailSink(sink_dir, port=free_port()).start()
    try:
        smtp = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port})
        start = time.perf_counter()

        def deliver_all() -> None:
            while worker.deliver(factory, smtp, lambda: NOW).claimed:
                pass

        timed(f"{backend}: deliver {queued:,} e-mails over SMTP to a local sink", rows, deliver_all)
        elapsed = time.perf_counter() - start
    finally:
        sink.stop()
    rows.append((f"{backend}: delivery rate", f"{queued / elapsed:.0f} e-mails/s"))
    rows.append(
        (f"{backend}: counts", f"{told.notices:,} notices, {run_.reminded:,} reminded")  # type: ignore[attr-defined]
    )
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hospitals", type=int, default=8000)
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL (a scratch database is made)")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), environment="test")
        rows += run(settings, args.hospitals, "SQLite", Path(tmp) / "sink-sqlite")
        if args.postgres:
            with scratch_postgres(args.postgres, "datahealth_bench_operations") as url:
                pg = Settings(data_dir=Path(tmp), environment="test", database_url=url)
                rows += run(pg, args.hospitals, "PostgreSQL", Path(tmp) / "sink-pg")
    print(f"load average: {os.getloadavg()}")
    print_table(rows)


if __name__ == "__main__":
    main()
