"""All feedback PDFs in one batch, as `datahealth report feedback --all` makes them (real code paths).

    python benchmarks/reports_feedback.py [--hospitals 8000] [--everyone] [--workers 2] [--limit N]

Loads the demo into a scratch SQLite database. With ``--everyone`` every hospital submits (the demo
leaves ~45 % unsubmitted), so the batch makes one PDF per hospital: ~8,000. Then times the survey-wide
preparation (scores, suppressed peer tables, statistics), the batch with N worker processes, and a
second run that finds everything up to date (the resume path). ``--limit`` renders only the first N
hospitals (a quick estimate). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from datahealth import migrate
from datahealth.analytics.feedback import PeerContext
from datahealth.auth.tables import Organisation
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.demo import load_demo, plausible_answers
from datahealth.reports import service
from datahealth.reports.batch import render_all
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Response, ResponseStatus, Survey, SurveyTarget


def submit_everyone(db: Session, survey: Survey) -> int:
    """Give every target without a submitted response a submitted one (synthetic, demo generator)."""
    defn = load_bundled("cyber-fy2024")
    rng = random.Random(99)
    done = set(db.scalars(select(Response.organisation_id).where(Response.survey_id == survey.id)))
    missing = db.execute(
        select(Organisation.id, Organisation.name, Organisation.bed_count)
        .join(SurveyTarget, SurveyTarget.organisation_id == Organisation.id)
        .where(SurveyTarget.survey_id == survey.id)
    ).all()
    moment = datetime(2026, 11, 20, 3, tzinfo=UTC)
    rows = [
        {
            "survey_id": survey.id,
            "organisation_id": org_id,
            "status": ResponseStatus.SUBMITTED.value,
            "answers": plausible_answers(defn, {"name": name, "bed_count": beds}, rng),
            "revision": 1,
            "created_at": moment,
            "updated_at": moment,
            "submitted_at": moment,
        }
        for org_id, name, beds in missing
        if org_id not in done
    ]
    if rows:
        db.execute(insert(Response), rows)
    drafts = db.scalars(
        select(Response).where(Response.survey_id == survey.id, Response.status != ResponseStatus.SUBMITTED)
    ).all()
    for response in drafts:
        response.answers = plausible_answers(defn, {"name": "", "bed_count": 100}, rng)
        response.status = ResponseStatus.SUBMITTED
        response.submitted_at = moment
    return len(rows) + len(drafts)


def fy2024_survey(db: Session) -> Survey:
    survey = db.scalar(select(Survey).where(Survey.survey_key == "cyber-fy2024"))
    assert survey is not None
    return survey


def demo_database(directory: Path, hospitals: int, *, everyone: bool) -> tuple[Engine, sessionmaker[Session], int]:
    """A migrated SQLite demo database in ``directory``; with ``everyone``, every hospital submitted.

    Returns the engine, its session factory and how many responses were made submitted for the benchmark.
    """
    engine = make_engine(Settings(data_dir=directory))
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    added = 0
    with transaction(factory) as db:
        load_demo(db, hospitals=hospitals, seed=2024, today=date(2026, 11, 21))
        if everyone:
            added = submit_everyone(db, fy2024_survey(db))
    return engine, factory, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hospitals", type=int, default=8000)
    parser.add_argument("--everyone", action="store_true", help="every hospital submits: one PDF per hospital")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", default="", help="keep the PDFs here (default: a temporary directory)")
    parser.add_argument("--report-every", type=int, default=500, help="print a progress line every N PDFs (stderr)")
    args = parser.parse_args()
    rows: list[tuple[str, str]] = [("load average at start", " ".join(f"{v:.1f}" for v in os.getloadavg()))]
    with tempfile.TemporaryDirectory() as directory:
        engine, factory, added = demo_database(Path(directory), args.hospitals, everyone=args.everyone)
        if args.everyone:
            rows.append(("responses made submitted for the benchmark", f"{added:,}"))
        start = time.perf_counter()
        with transaction(factory) as db:
            survey = fy2024_survey(db)
            context = service.peer_context(db, survey, datetime.now(UTC), service.ReportCache())
            stamp = service.fingerprint(context.data, context.previous)
        rows.append(
            ("survey-wide preparation (read, score, suppress, statistics)", f"{time.perf_counter() - start:.1f} s")
        )
        everyone = len(context.data.submitted())
        if args.limit:
            kept = {r.organisation_id for r in context.data.submitted()[: args.limit]}
            data = context.data
            trimmed = type(data)(
                data.survey_id,
                data.survey_key,
                data.defn,
                data.scoring,
                data.scorer,
                [r if r.organisation_id in kept else _unsubmitted(r) for r in data.records],
            )
            context = _with_data(context, trimmed)
        out = Path(args.out) if args.out else Path(directory) / "pdf"
        cpu_before, wall_before = _cpu(), time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done and (done % args.report_every == 0 or done == total):
                cpu = _cpu() + _live_children_cpu() - cpu_before
                wall = time.perf_counter() - wall_before
                load = " ".join(f"{v:.1f}" for v in os.getloadavg())
                print(
                    f"{done}/{total} PDFs: wall {wall:.0f} s, CPU {cpu:.0f} s ({cpu / done:.3f} s/PDF), load {load}",
                    file=sys.stderr,
                    flush=True,
                )

        result = render_all(context, out, stamp=stamp, version=survey.version, workers=args.workers, progress=progress)
        cpu_each = (_cpu() - cpu_before) / max(result.rendered, 1)
        rows.append(
            (
                f"**feedback PDFs, {args.workers} worker processes**",
                f"**{result.rendered:,} PDFs in {result.seconds / 60:.1f} min**",
            )
        )
        rows.append(
            (
                "throughput",
                f"{result.rendered / result.seconds:.2f} PDFs/s "
                f"({result.seconds / max(result.rendered, 1):.2f} s each, wall)",
            )
        )
        rows.append(("CPU time per PDF (workers and parent)", f"{cpu_each:.3f} s"))
        rows.append(
            (
                f"CPU-bound estimate for all {everyone:,} on an otherwise idle 2-core machine",
                f"{everyone * cpu_each / 2 / 60:.1f} min",
            )
        )
        sizes = [p.stat().st_size for p in out.glob("feedback-*.pdf")]
        rows.append(
            ("PDF size (mean)", f"{sum(sizes) / max(len(sizes), 1) / 1e3:.0f} kB, {sum(sizes) / 1e9:.2f} GB in all")
        )
        again = render_all(context, out, stamp=stamp, version=survey.version, workers=args.workers)
        rows.append(
            (
                "second run (everything up to date: hashes checked, nothing rendered)",
                f"{again.seconds:.1f} s, {again.skipped:,} skipped",
            )
        )
        engine.dispose()
    rows.append(("load average at end", " ".join(f"{v:.1f}" for v in os.getloadavg())))
    print("| measurement | result |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _live_children_cpu() -> float:
    """CPU seconds of this process's running children (the pool's workers), from /proc (Linux)."""
    tick, total, me = os.sysconf("SC_CLK_TCK"), 0.0, os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:  # fields: state, ppid, ..., utime (12), stime (13)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _unsubmitted(record):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(record, status="not_started", score=None, answers=None)


def _with_data(context: PeerContext, data):  # type: ignore[no-untyped-def]
    trimmed = PeerContext.__new__(PeerContext)
    trimmed.__dict__.update(context.__dict__)
    trimmed.data = data
    return trimmed


if __name__ == "__main__":
    main()
