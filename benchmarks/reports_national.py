"""National report timings on the demo data set (real code paths, no mocks).

    python benchmarks/reports_national.py [--hospitals 8000] [--postgres postgresql://…/postgres]

Loads the demo (8,000 hospitals, the FY2024 survey with ~55 % submitted and the previous year's survey),
then times what `datahealth report national` does: reading and scoring every response, the report
model (tables, suppression, statistics, year over year, follow-up list), the PDF and the XLSX, for the
internal and the public view. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from bench_common import print_table, scratch_postgres
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from datahealth import migrate
from datahealth.analytics.aggregates import View
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.demo import load_demo
from datahealth.reports import service
from datahealth.reports.xlsx import national_xlsx
from datahealth.survey.tables import Survey

T = TypeVar("T")


def timed(rows: list[tuple[str, str]], label: str, fn: Callable[[], T]) -> T:
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    rows.append((label, f"{time.perf_counter() - start:.2f} s (CPU {time.process_time() - cpu:.2f} s)"))
    return result


def run(settings: Settings, hospitals: int, backend: str) -> list[tuple[str, str]]:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    rows: list[tuple[str, str]] = []
    with transaction(factory) as db:
        load_demo(db, hospitals=hospitals, seed=2024, today=date(2026, 11, 21))
    now = datetime.now(UTC)
    for view in ("internal", "public"):
        one_view(factory, view, backend, now, rows)
    engine.dispose()
    return rows


def one_view(
    factory: sessionmaker[Session], view: View, backend: str, now: datetime, rows: list[tuple[str, str]]
) -> None:
    cache = service.ReportCache()  # cold: nothing scored yet
    start, cpu = time.perf_counter(), time.process_time()
    with transaction(factory) as db:
        survey = db.scalar(select(Survey).where(Survey.survey_key == "cyber-fy2024"))
        assert survey is not None
        label = f"{backend} {view}: read and score responses (both years)"
        data, _previous = timed(rows, label, lambda: service.load_data(db, survey, cache))
        report = timed(rows, f"{backend} {view}: report model", lambda: service.national(db, survey, view, now, cache))
    pdf = timed(rows, f"{backend} {view}: PDF", lambda: service.national_pdf(report))
    xlsx = timed(rows, f"{backend} {view}: XLSX", lambda: national_xlsx(report))
    total, cpu_total = time.perf_counter() - start, time.process_time() - cpu
    label = f"**{backend} {view}: national report, total (PDF + XLSX)**"
    rows.append((label, f"**{total:.2f} s** (CPU {cpu_total:.2f} s)"))
    rows.append((f"{backend} {view}: sizes", f"PDF {len(pdf) / 1e6:.1f} MB, XLSX {len(xlsx) / 1e6:.2f} MB"))
    assert data.submitted()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hospitals", type=int, default=8000)
    parser.add_argument("--postgres", default="", help="server URL; a scratch database is created and dropped")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = [("load average at start", " ".join(f"{v:.1f}" for v in os.getloadavg()))]
    with tempfile.TemporaryDirectory() as directory:
        rows += run(Settings(data_dir=Path(directory)), args.hospitals, "SQLite")
    if args.postgres:
        with scratch_postgres(args.postgres, "datahealth_bench_reports") as url:
            rows += run(Settings(database_url=url), args.hospitals, "PostgreSQL")
    rows.append(("load average at end", " ".join(f"{v:.1f}" for v in os.getloadavg())))
    print_table(rows)


if __name__ == "__main__":
    main()
