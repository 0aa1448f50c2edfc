"""Did the intervention lower HbA1c? Per stratum and arm summaries and the between-arm effect.

* **Summary** (the seed's table): per stratum, arm and follow-up — allocated, with baseline, with follow-up,
  complete (both), missing follow-up; baseline and follow-up means of the complete cases and their mean
  change with a t-based 95 % CI.
* **ANCOVA**: ``follow-up ~ arm + baseline`` (OLS, HC3 robust standard errors, t quantiles) on complete cases; the arm
  coefficient is the effect (treated − reference). It is the primary estimate: adjusting for baseline is
  more precise than comparing changes and is unbiased under randomisation.
* **Difference-in-differences**: ``value ~ arm + post + arm × post`` on the stacked baseline and follow-up of
  complete cases, standard errors clustered by participant (t with clusters − 1 degrees of freedom); equals the
  difference of mean changes.
* **Mixed model** (more than two time points): ``value ~ time + arm × time`` with a random intercept per
  participant (statsmodels MixedLM, REML) over *all* available measurements, so participants with a missing
  visit still contribute (valid if missingness depends only on observed values, MAR).
* ``all`` pools the strata: ANCOVA and DiD add stratum indicators (stratified randomisation).

All fits use numpy design matrices (no formula parsing) so a study of 200,000 participants is one fit each.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.regression.mixed_linear_model import MixedLM

from datahealth.analytics.study.model import StudyDefinition
from datahealth.analytics.study.outcomes import BASELINE

ALL = "all"
MIXED_MAX_PARTICIPANTS = 50_000
"""Above this the mixed model is not fitted (statsmodels' MixedLM takes about 1 ms of CPU per participant and
fit; docs/benchmarks.md); the report says so. ANCOVA and DiD have no such limit."""
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Estimate:
    stratum: str
    follow_up: str
    arm: str
    """The treated arm compared with the reference arm."""
    method: str
    """ancova, did or mixed."""
    estimate: float
    se: float
    low: float
    high: float
    p: float
    n: int
    """Participants used."""

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def complete_cases(long: pl.DataFrame, follow_up: str) -> pl.DataFrame:
    """Per participant: arm, stratum, baseline, follow-up (nulls kept)."""
    base = long.filter(pl.col("time") == BASELINE).select(
        "consortium_id", "participant_id", "arm", "stratum", pl.col("value").alias("baseline")
    )
    follow = long.filter(pl.col("time") == follow_up).select(
        "consortium_id", "participant_id", pl.col("value").alias("follow")
    )
    return base.join(follow, on=["consortium_id", "participant_id"], how="left")


def summary(long: pl.DataFrame, definition: StudyDefinition) -> pl.DataFrame:
    """stratum, arm, follow_up, allocated, with_baseline, with_follow_up, complete, missing_follow_up,
    baseline_mean, follow_up_mean, change_mean, change_low, change_high (complete cases)."""
    frames = []
    for follow_up in definition.follow_ups:
        frame = complete_cases(long, follow_up.code)
        both = pl.concat([frame, frame.with_columns(stratum=pl.lit(ALL))])
        frames.append(
            both.with_columns(change=pl.col("follow") - pl.col("baseline"), ok=pl.col("follow").is_not_null())
            .with_columns(complete=pl.col("ok") & pl.col("baseline").is_not_null())
            .group_by("stratum", "arm")
            .agg(
                allocated=pl.len(),
                with_baseline=pl.col("baseline").is_not_null().sum(),
                with_follow_up=pl.col("ok").sum(),
                complete=pl.col("complete").sum(),
                baseline_mean=pl.col("baseline").filter(pl.col("complete")).mean(),
                follow_up_mean=pl.col("follow").filter(pl.col("complete")).mean(),
                change_mean=pl.col("change").filter(pl.col("complete")).mean(),
                change_sd=pl.col("change").filter(pl.col("complete")).std(),
            )
            .with_columns(follow_up=pl.lit(follow_up.code))
        )
    table = pl.concat(frames).with_columns(
        missing_follow_up=pl.col("allocated") - pl.col("with_follow_up"),
    )
    dof = np.maximum(table["complete"].to_numpy().astype(float) - 1, 1)
    t = stats.t.ppf(0.975, dof)
    half = t * table["change_sd"].fill_null(np.nan).to_numpy() / np.sqrt(np.maximum(table["complete"].to_numpy(), 1))
    order = {group.code: i for i, group in enumerate(definition.strata.groups)} | {ALL: 99}
    arms = {arm.code: i for i, arm in enumerate(definition.arms)}
    return (
        table.with_columns(
            change_low=pl.col("change_mean") - pl.Series(half), change_high=pl.col("change_mean") + pl.Series(half)
        )
        .with_columns(pl.col("change_low", "change_high").fill_nan(None))
        .with_columns(
            _s=pl.col("stratum").replace_strict(order, default=50, return_dtype=pl.Int32),
            _a=pl.col("arm").replace_strict(arms, default=50, return_dtype=pl.Int32),
            _f=pl.col("follow_up").replace_strict(
                {f.code: i for i, f in enumerate(definition.follow_ups)}, return_dtype=pl.Int32
            ),
        )
        .sort("_f", "_s", "_a")
        .drop("_s", "_a", "_f", "change_sd")
    )


def _estimate(
    stratum: str, follow_up: str, arm: str, method: str, coef: float, se: float, p: float, n: int
) -> Estimate:
    return Estimate(stratum, follow_up, arm, method, coef, se, coef - Z95 * se, coef + Z95 * se, p, n)


def _from_fit(fit: Any, position: int, stratum: str, follow_up: str, arm: str, method: str, n: int) -> Estimate:
    """The coefficient at ``position`` with its t-based 95 % CI (robust covariance, small-sample t)."""
    low, high = (float(v) for v in np.asarray(fit.conf_int(0.05))[position])
    coef, se, p = float(fit.params[position]), float(fit.bse[position]), float(fit.pvalues[position])
    return Estimate(stratum, follow_up, arm, method, coef, se, low, high, p, n)


def _strata_dummies(strata: np.ndarray) -> np.ndarray:
    levels = sorted(set(strata.tolist()))
    if len(levels) < 2:
        return np.empty((strata.size, 0))
    return np.column_stack([(strata == level).astype(float) for level in levels[1:]])


def ancova(frame: pl.DataFrame, arm: str, reference: str, stratum: str, follow_up: str) -> Estimate | None:
    """``follow ~ treat + baseline (+ strata)`` on complete cases of ``arm`` and ``reference``, HC3."""
    data = frame.filter(
        pl.col("arm").is_in([arm, reference]) & pl.col("baseline").is_not_null() & pl.col("follow").is_not_null()
    )
    treat = (data["arm"].to_numpy() == arm).astype(float)
    if data.height < 5 or treat.sum() < 2 or (1 - treat).sum() < 2:
        return None
    columns = [np.ones(data.height), treat, data["baseline"].to_numpy()]
    if stratum == ALL:
        columns.append(_strata_dummies(data["stratum"].to_numpy()))
    exog = np.column_stack(columns)
    fit = OLS(data["follow"].to_numpy(), exog).fit(cov_type="HC3", use_t=True)
    return _from_fit(fit, 1, stratum, follow_up, arm, "ancova", data.height)


def did(frame: pl.DataFrame, arm: str, reference: str, stratum: str, follow_up: str) -> Estimate | None:
    """``value ~ treat + post + treat:post (+ strata)`` stacked, standard errors clustered by participant."""
    data = frame.filter(
        pl.col("arm").is_in([arm, reference]) & pl.col("baseline").is_not_null() & pl.col("follow").is_not_null()
    )
    n = data.height
    treat = (data["arm"].to_numpy() == arm).astype(float)
    if n < 5 or treat.sum() < 2 or (1 - treat).sum() < 2:
        return None
    y = np.concatenate([data["baseline"].to_numpy(), data["follow"].to_numpy()])
    t2 = np.concatenate([treat, treat])
    post = np.concatenate([np.zeros(n), np.ones(n)])
    columns = [np.ones(2 * n), t2, post, t2 * post]
    if stratum == ALL:
        dummies = _strata_dummies(data["stratum"].to_numpy())
        columns.append(np.vstack([dummies, dummies]))
    groups = np.concatenate([np.arange(n), np.arange(n)])
    fit = OLS(y, np.column_stack(columns)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    return _from_fit(fit, 3, stratum, follow_up, arm, "did", n)


def mixed(long: pl.DataFrame, definition: StudyDefinition, arm: str, stratum: str) -> list[Estimate]:
    """Random-intercept model over all time points; one arm × time estimate per follow-up."""
    reference = definition.reference_arm
    data = long.filter(pl.col("arm").is_in([arm, reference]) & pl.col("value").is_not_null())
    if stratum != ALL:
        data = data.filter(pl.col("stratum") == stratum)
    times = len(definition.follow_ups)
    if times < 2 or data.height < 10:
        return []
    treat = (data["arm"].to_numpy() == arm).astype(float)
    index = data["time_index"].to_numpy()
    columns = [np.ones(data.height), treat]
    columns += [(index == k).astype(float) for k in range(1, times + 1)]
    columns += [treat * (index == k) for k in range(1, times + 1)]
    if stratum == ALL:
        columns.append(_strata_dummies(data["stratum"].to_numpy()))
    groups = (data["consortium_id"] + "/" + data["participant_id"]).to_numpy()
    participants = len(set(groups.tolist()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a failed fit is reported as absent
        try:
            fit = MixedLM(data["value"].to_numpy(), np.column_stack(columns), groups=groups).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError):
            return []
    results = []
    for k, follow_up in enumerate(definition.follow_ups, start=1):
        position = 1 + times + k
        coef, se = float(fit.params[position]), float(fit.bse[position])
        if not np.isfinite(se):
            continue
        p = float(2 * stats.norm.sf(abs(coef / se))) if se > 0 else float("nan")
        results.append(_estimate(stratum, follow_up.code, arm, "mixed", coef, se, p, participants))
    return results


def mixed_skipped(long: pl.DataFrame, definition: StudyDefinition, limit: int = MIXED_MAX_PARTICIPANTS) -> bool:
    """True when the mixed model applies (≥ 2 follow-ups) but the study is above ``limit`` participants."""
    participants = long.filter(pl.col("time") == BASELINE).height
    return len(definition.follow_ups) >= 2 and participants > limit


def between_arms(
    long: pl.DataFrame, definition: StudyDefinition, *, mixed_limit: int = MIXED_MAX_PARTICIPANTS
) -> list[Estimate]:
    """ANCOVA and DiD per stratum (and pooled) and follow-up; the mixed model when there are ≥ 2 follow-ups
    and at most ``mixed_limit`` participants."""
    results: list[Estimate] = []
    strata = [group.code for group in definition.strata.groups] + [ALL]
    for follow_up in definition.follow_ups:
        frame = complete_cases(long, follow_up.code)
        for stratum in strata:
            part = frame if stratum == ALL else frame.filter(pl.col("stratum") == stratum)
            if stratum == ALL:
                part = part.filter(pl.col("stratum").is_in([group.code for group in definition.strata.groups]))
            for arm in definition.treated_arms:
                for method in (ancova, did):
                    estimate = method(part, arm.code, definition.reference_arm, stratum, follow_up.code)
                    if estimate is not None:
                        results.append(estimate)
    if mixed_skipped(long, definition, mixed_limit):
        return results
    classified = long.filter(pl.col("stratum").is_in([group.code for group in definition.strata.groups]))
    for stratum in strata:
        for arm in definition.treated_arms:
            results += mixed(classified, definition, arm.code, stratum)
    return results


def estimates_frame(estimates: list[Estimate]) -> pl.DataFrame:
    return pl.DataFrame([e.__dict__ for e in estimates]) if estimates else pl.DataFrame()
