"""One small synthetic linked data set per test session, and one local SparkSession for the spark tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datahealth.analytics.linked import engines, linkage, synth

SECRET = b"test-linkage-key"
PERSONS = 4000


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("linked-data")
    synth.generate(out, PERSONS, seed=7, scenario="stroke", cohort_fraction=0.8, chunk=1500)
    return out


@pytest.fixture(scope="session")
def link_report(synth_dir: Path) -> linkage.LinkReport:
    return linkage.link(synth_dir, SECRET, carry=("truth_person_id",))


@pytest.fixture(scope="session")
def linked_dir(synth_dir: Path, link_report: linkage.LinkReport) -> Path:
    return synth_dir / "linked"


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = engines.spark_session(cores=2, memory="1g", partitions=1)
    yield session
    session.stop()
    engines.spark_session.cache_clear()
