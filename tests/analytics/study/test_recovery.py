"""The analysis recovers the planted truth: 95 % CIs cover the planted effect in ≥ 90 % of seeds.

Cheap by design: in-memory frames (DuckDB windows over registered frames, numpy design matrices),
small studies, 30 seeds (about 0.7 s of CPU each). The end-to-end path through ingest is in test_end_to_end.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from datahealth.analytics.study import effect, outcomes, synth
from datahealth.analytics.study.snapshot import connect_frames

START = date(2025, 4, 1)
SEEDS = range(1, 31)


def analyse(seed: int, participants: int = 160) -> tuple[list[effect.Estimate], synth.StudyTruth, pl.DataFrame]:
    study = synth.generate_study(participants=participants, start=START, seed=seed)
    con = connect_frames({"hba1c": study.hba1c, "participant": study.data.registries["participant"]})
    long = outcomes.hba1c_long(con, study.definition, study.allocation)
    return effect.between_arms(long, study.definition), study.truth, long


@pytest.fixture(scope="module")
def runs() -> list[tuple[list[effect.Estimate], synth.StudyTruth, pl.DataFrame]]:
    return [analyse(seed) for seed in SEEDS]


@pytest.mark.parametrize("method", ["ancova", "did", "mixed"])
def test_confidence_intervals_cover_the_planted_effect(runs, method: str):
    """Per method, over 30 seeds × 2 strata × 2 follow-ups = 120 intervals (nominal 95 %)."""
    covered = []
    for estimates, truth, _ in runs:
        for stratum in ("no_medication", "medication"):
            for follow_up in ("m1_5", "m3"):
                found = [e for e in estimates if (e.method, e.stratum, e.follow_up) == (method, stratum, follow_up)]
                assert len(found) == 1
                covered.append(found[0].covers(truth.effect[stratum][follow_up]))
    assert len(covered) == 120
    assert np.mean(covered) >= 0.90


def test_estimates_are_unbiased_and_ancova_is_more_precise_than_did(runs):
    ancova = [
        e for es, _, _ in runs for e in es if (e.method, e.stratum, e.follow_up) == ("ancova", "no_medication", "m3")
    ]
    did = [e for es, _, _ in runs for e in es if (e.method, e.stratum, e.follow_up) == ("did", "no_medication", "m3")]
    truth = runs[0][1].effect["no_medication"]["m3"]
    mean = float(np.mean([e.estimate for e in ancova]))
    spread = float(np.std([e.estimate for e in ancova]))
    assert abs(mean - truth) < 3 * spread / np.sqrt(len(ancova))
    assert np.mean([e.se for e in ancova]) <= np.mean([e.se for e in did])


def test_a_null_effect_is_not_found_too_often(monkeypatch):
    monkeypatch.setitem(synth.EFFECT, "no_medication", 0.0)
    monkeypatch.setitem(synth.EFFECT, "medication", 0.0)
    significant = []
    for seed in range(101, 141):
        study = synth.generate_study(participants=120, start=START, seed=seed)
        assert study.truth.effect["no_medication"]["m3"] == 0.0
        con = connect_frames({"hba1c": study.hba1c, "participant": study.data.registries["participant"]})
        long = outcomes.hba1c_long(con, study.definition, study.allocation)
        frame = effect.complete_cases(long, "m3").filter(pl.col("stratum") != "unclassified")
        found = effect.ancova(frame, "intervention", "control", effect.ALL, "m3")
        assert found is not None
        significant.append(found.p < 0.05)
    assert np.mean(significant) <= 0.15


def test_missing_follow_up_is_counted_not_dropped(runs):
    _, _, long = runs[0]
    definition = synth.default_definition(START, ("SYN01",))
    table = effect.summary(long, definition).filter(pl.col("stratum") == effect.ALL, pl.col("follow_up") == "m3")
    allocated = long.filter(pl.col("time") == outcomes.BASELINE).height
    assert table["allocated"].sum() == allocated
    missing = long.filter((pl.col("time") == "m3") & pl.col("value").is_null()).height
    assert table["missing_follow_up"].sum() == missing > 0
    assert (table["complete"] + table["missing_follow_up"] == table["allocated"]).all()


def test_the_mixed_model_is_skipped_above_its_limit_and_says_so(runs):
    _, _, long = runs[0]
    definition = synth.default_definition(START, ("SYN01",))
    estimates = effect.between_arms(long, definition, mixed_limit=10)
    assert effect.mixed_skipped(long, definition, limit=10)
    assert {e.method for e in estimates} == {"ancova", "did"}
    assert not effect.mixed_skipped(long, definition)
