"""The crash test, bounded for CI: SIGKILL the server under load ~12 times per backend (at most 60 s each).

Nothing acknowledged may be lost (see ``scripts/crash_test.py`` for what is checked).

The long run (hundreds of kills) is ``scripts/crash_test.py``; see docs/reliability.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import crash_test  # noqa: E402
from own_loop import run_isolated  # noqa: E402

POSTGRES_URL = os.environ.get("DATAHEALTH_TEST_POSTGRES_URL", "")


@pytest.mark.parametrize(
    ("backend", "ingest_processes"),
    [("sqlite", 0), ("postgres", 0), ("postgres", 1)],
    ids=["sqlite", "postgres", "postgres-ingest-process"],
)
def test_sigkill_under_load_loses_nothing(backend: str, ingest_processes: int, tmp_path: Path) -> None:
    """``postgres-ingest-process``: batches run in an ingest process (DATAHEALTH_INGEST_PROCESSES=1), which the
    SIGKILL of the server's process group ends in the middle of its batches too."""
    if backend == "postgres" and not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set DATAHEALTH_TEST_POSTGRES_URL or run scripts/test.sh)")
    args = crash_test.parser().parse_args(
        [
            "--backend", backend,
            "--kills", "12",
            "--duration", "60",
            "--seed", "7",
            "--hospitals", "30",
            "--clients", "6",
            "--consortia", "2",
            "--participants", "4",
            "--days", "40",
            "--min-interval", "0.2",
            "--max-interval", "0.8",
            "--check-every", "4",
            "--ingest-processes", str(ingest_processes),
            "--postgres-url", POSTGRES_URL,
            "--log", str(tmp_path / "server.log"),
        ]
    )  # fmt: skip
    report = run_isolated(crash_test.run_crash_test(args))
    assert report.problems == [], report.summary() + "\n" + "\n".join(report.problems[:20])
    assert report.kills >= 5, report.summary()  # the server really was killed, repeatedly, under load
    assert report.saves > 0 and report.batches > 0, report.summary()
    assert report.checks >= 2, report.summary()
