"""Survey platform timings on the demo data set (real code paths, no mocks).

    python benchmarks/survey_demo.py [--hospitals 8000] [--postgres postgresql://…/postgres]

Measures: loading the demo (8,000 hospitals with accounts and answers), the administrator's progress
query, CSV and XLSX export of all responses, and draft saves through the service layer (what every
autosave does). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from bench_common import print_table, scratch_postgres
from sqlalchemy import select, text

from datahealth import migrate
from datahealth.auth.service import Principal
from datahealth.auth.tables import Role, User
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.demo import load_demo
from datahealth.survey import export, progress, service
from datahealth.survey.tables import Response, Survey


def timed(label: str, rows: list[tuple[str, str]], fn: Callable[[], object], unit: str = "s") -> object:
    start = time.perf_counter()
    result = fn()
    rows.append((label, f"{time.perf_counter() - start:.2f} {unit}"))
    return result


def run(settings: Settings, hospitals: int, backend: str) -> list[tuple[str, str]]:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    rows: list[tuple[str, str]] = []
    today = date(2025, 2, 14)
    with transaction(factory) as db:
        timed(f"{backend}: load demo ({hospitals:,} hospitals)", rows,
              lambda: load_demo(db, hospitals=hospitals, seed=2024, today=today))
    with transaction(factory) as db:
        survey_id = db.scalar(select(Survey.id).where(Survey.survey_key == "cyber-fy2024"))
        assert survey_id is not None
        timed(f"{backend}: progress by prefecture and band", rows, lambda: progress.survey_progress(db, survey_id))
        csv_bytes = timed(f"{backend}: export CSV", rows, lambda: export.export_csv(db, survey_id))
        timed(f"{backend}: export XLSX", rows, lambda: export.export_xlsx(db, survey_id))
        assert isinstance(csv_bytes, bytes)
    rows.append((f"{backend}: CSV size", f"{len(csv_bytes) / 1e6:.1f} MB"))

    # Draft saves: one autosave = one transaction (load, validate, prune, store).
    with transaction(factory) as db:
        users = db.scalars(select(User).where(User.role == Role.HOSPITAL).limit(500)).all()
        principals = [Principal(u.id, u.login_id, u.display_name, Role.HOSPITAL, u.organisation_id, "", "", "ja")
                      for u in users]
    rng = random.Random(7)
    moment = datetime(2025, 2, 14, 3, tzinfo=UTC)
    saves = 2000
    start = time.perf_counter()
    for i in range(saves):
        principal = principals[i % len(principals)]
        with transaction(factory) as db:
            survey = db.get(Survey, survey_id)
            assert survey is not None
            response = service.own_response(db, principal, survey)
            if response.status == "submitted":
                continue
            value = rng.choice(["yes", "no"])
            service.save_draft(db, principal, survey, response, {"q2_1": value}, ["q2_1"], moment)
    elapsed = time.perf_counter() - start
    rows.append((f"{backend}: draft saves, one process, sequential", f"{saves / elapsed:.0f} saves/s"))
    with transaction(factory) as db:
        count = db.scalar(select(text("count(*)")).select_from(Response).where(Response.survey_id == survey_id))
    rows.append((f"{backend}: FY2024 responses stored", f"{count:,}"))
    engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hospitals", type=int, default=8000)
    parser.add_argument("--postgres", default="", help="server URL; a scratch database is created and dropped")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as directory:
        rows += run(Settings(data_dir=Path(directory)), args.hospitals, "SQLite")
    if args.postgres:
        with scratch_postgres(args.postgres, "datahealth_bench") as url:
            rows += run(Settings(database_url=url), args.hospitals, "PostgreSQL")
    print_table(rows)


if __name__ == "__main__":
    main()
