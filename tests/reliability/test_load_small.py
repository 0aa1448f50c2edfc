"""The load test, small and bounded for CI: 20 people autosaving and submitting while consortia send batches.

Asserts correctness only (no errors, nothing acknowledged lost), never speed: the figures are in
docs/benchmarks.md (``benchmarks/load_survey.py`` with 1,000 users).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import load_survey  # noqa: E402

from conftest import POSTGRES_URL  # noqa: E402


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_small_load_has_no_errors_and_loses_nothing(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set DATAHEALTH_TEST_POSTGRES_URL or run scripts/test.sh)")
    args = load_survey.parser().parse_args(
        [
            "--backend", backend,
            "--users", "20",
            "--think", "0.2",
            "--ramp", "1",
            "--duration", "10",
            "--submit-share", "0.5",
            "--consortia", "2",
            "--participants", "3",
            "--days", "30",
            "--batch-pause", "0.2",
            "--workers", "2" if backend == "postgres" else "1",
            "--postgres-url", POSTGRES_URL,
            "--log", str(tmp_path / "server.log"),
        ]
    )  # fmt: skip
    report = asyncio.run(load_survey.run_load(args))
    summary = "\n".join(report.lines())
    assert report.saves > 0 and report.batches > 0, summary
    assert report.errors == 0, summary
    assert report.lost == [], summary + "\n" + "\n".join(report.lost[:20])
    assert set(report.statuses) <= {200, 201, 303}, summary
