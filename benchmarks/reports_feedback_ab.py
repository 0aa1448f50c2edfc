"""CPU time per feedback PDF in one process, for A/B comparisons on a shared (noisy) machine.

    PYTHONPATH=<src of A or B> python benchmarks/reports_feedback_ab.py [--hospitals 600] [--pdfs 20] [--repeat 3]

Builds a demo (every hospital submits, as ``reports_feedback.py --everyone``), then renders the first
``--pdfs`` hospitals' PDFs ``--repeat`` times each with the batch's own worker function and reports, per
PDF, the least CPU time (``time.process_time``) of its repeats: other processes on the machine only ever
add time, so the minimum is the steadiest estimate. Also prints Python function calls per PDF (cProfile,
one pass): a deterministic count that moves with most of WeasyPrint's work. Run it for A and B alternately.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from datahealth.db import transaction
from datahealth.reports import batch, service
from datahealth.reports.fonts import batch_characters, default_cache, subset_font

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reports_feedback import demo_database, fy2024_survey  # noqa: E402 - the benchmark next door


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hospitals", type=int, default=600)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        engine, factory, _added = demo_database(Path(directory), args.hospitals, everyone=True)
        with transaction(factory) as db:
            context = service.peer_context(db, fy2024_survey(db), datetime.now(UTC), service.ReportCache())
        engine.dispose()
        batch._WORKER_CONTEXT = context  # noqa: SLF001 - the batch's worker state, as a forked worker has it
        batch._WORKER_FONT = subset_font(batch_characters(context.data, context.previous), default_cache())  # noqa: SLF001
        gc.set_threshold(*batch._GC_THRESHOLDS)  # noqa: SLF001
        out = Path(directory) / "pdf"
        out.mkdir()
        hospitals = [record.organisation_id for record in context.data.submitted()[: args.pdfs]]
        batch._render_one((hospitals[0], str(out), "warm-up"))  # noqa: SLF001 - stylesheets, appendix
        profile = cProfile.Profile()
        profile.enable()
        for hospital in hospitals:
            batch._render_one((hospital, str(out), "calls"))  # noqa: SLF001
        profile.disable()
        calls = pstats.Stats(profile).total_calls / len(hospitals)
        best: dict[int, float] = {}
        for _ in range(args.repeat):
            for hospital in hospitals:
                started = time.process_time()
                batch._render_one((hospital, str(out), "timed"))  # noqa: SLF001
                spent = time.process_time() - started
                best[hospital] = min(best.get(hospital, spent), spent)
        sizes = [path.stat().st_size for path in out.glob("*.pdf")]
        load = " ".join(f"{value:.1f}" for value in os.getloadavg())
        print(
            f"{len(hospitals)} PDFs x {args.repeat}: CPU per PDF (least of repeats) mean "
            f"{statistics.mean(best.values()) * 1000:.0f} ms, median {statistics.median(best.values()) * 1000:.0f} ms; "
            f"{calls / 1000:.0f}k Python calls per PDF; mean size {statistics.mean(sizes) / 1000:.0f} kB; load {load}"
        )


if __name__ == "__main__":
    main()
