"""Synthetic exchange data with known ground truth: registries and records as a consortium sends them.

Everything is generated here from a seed (numpy's PCG64): no real person, device serial or value is
used. For ``participants`` per consortium over ``days`` days it makes the shared registries (devices
with the ▲ items they measure, activity recording times, HbA1c methods), each consortium's labs and
participants (periods, medication, wearing position), and records: daily activity, body weight about
three times a week, home blood pressure about four times a week, HbA1c and a checkup blood pressure at
baseline and at three months. Values are drawn around each participant's own level.

With ``errors=True`` it plants one catalogued problem in each of a set of rows (impossible date,
future time, wrong digits, decimal in an integer, code outside its list, full-width digits, missing
required and conditional fields, unknown participant/device/lab/method, observation outside the
participation period, a duplicate) and implausible values that must be stored but flagged; each one
is listed in ``SynthData.planted`` with the row it is in, so tests and the benchmark can compare a
checker's findings with the truth. All values are strings in wire form, as a sender writes them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datahealth.exchange import spec

SEND_VERSION = spec.VERSION


@dataclass(frozen=True)
class SynthDevice:
    maker: str
    model: str
    name: str
    category: str
    measured: tuple[str, ...]
    time_correction: str = "1"
    standard: str = ""
    accuracy: str = ""


DEVICES: tuple[SynthDevice, ...] = (
    SynthDevice(
        "SYNA",
        "AM-100",
        "合成活動量計 AM-100",
        "1",
        (
            "walk_time",
            "moderate_intensity_activity",
            "calories",
            "total_calories",
            "distance",
            "exercise",
            "physical_activity",
        ),
        "2",
        "JIS S 7200",
        "歩数 ±3%",
    ),
    SynthDevice(
        "SYNB", "WB-20", "合成スマートウォッチ WB-20", "5", ("walk_time", "calories", "total_calories", "distance"), "2"
    ),
    SynthDevice("SYNC", "StepApp 2.1", "合成歩数アプリ", "4", ("walk_time", "distance"), "1"),
    # measured_items must name at least one ▲ item: this body-composition scale also measures the pulse
    SynthDevice("SYNW", "SC-5", "合成体組成計 SC-5（心拍計測つき）", "2", ("pulse_rate",), "0", "", "±0.1 kg"),
    SynthDevice("SYNP", "BP-7", "合成血圧計 BP-7", "3", ("pulse_rate",), "0", "JIS T 1115"),
    SynthDevice("SYNP", "BP-W2", "合成手首式血圧計 BP-W2", "3", ("pulse_rate",), "0", "JIS T 1115"),
)
ACTIVITY_DEVICES = tuple(d for d in DEVICES if d.category in ("1", "4", "5"))
SCALES = tuple(d for d in DEVICES if d.category == "2")
BP_MONITORS = tuple(d for d in DEVICES if d.category == "3")
METHODS = (("M01", "1", "HPLC法（合成）"), ("M02", "2", "免疫学的測定法（合成）"), ("M03", "3", "酵素法（合成）"))
_ACTIVITY_FIELDS = (
    "walk_time",
    "moderate_intensity_activity",
    "calories",
    "total_calories",
    "distance",
    "exercise",
    "physical_activity",
)
UNKNOWN_PARTICIPANT = "P99999"
TRUTH_FILE = "truth/planted.csv"
"""Where ``write_files`` puts the ground truth (a sub-folder, so ``ingest OUTDIR`` does not send it)."""


@dataclass(frozen=True)
class Planted:
    """One planted problem: in row ``row`` (0-based, in file order) of ``record_type``."""

    record_type: str
    row: int
    code: str
    field: str
    severity: str
    """``error`` (the row is rejected) or ``flag`` (stored but flagged)."""
    consortium_id: str
    participant_id: str
    message_index: int = 0
    """The row's position in its participant's JSON message array."""

    @property
    def csv_locator(self) -> str:
        return f"line {self.row + 2}"

    @property
    def json_pointer(self) -> str:
        return f"/{self.record_type}/{self.message_index}"


@dataclass
class SynthData:
    registries: dict[str, pl.DataFrame]
    records: dict[str, pl.DataFrame]
    planted: list[Planted] = field(default_factory=list)
    start: date = date(2025, 1, 6)
    days: int = 60

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    def frames(self) -> dict[str, pl.DataFrame]:
        return {**self.registries, **self.records}

    @property
    def errors(self) -> list[Planted]:
        return [item for item in self.planted if item.severity == "error"]

    @property
    def flags(self) -> list[Planted]:
        return [item for item in self.planted if item.severity == "flag"]


def consortium_ids(count: int) -> tuple[str, ...]:
    return tuple(f"SYN{n:02d}" for n in range(1, count + 1))


def generate(
    *,
    participants: int = 20,
    days: int = 60,
    consortia: tuple[str, ...] = ("SYN01",),
    start: date = date(2025, 1, 6),
    seed: int = 1,
    errors: bool = False,
    record_types: tuple[str, ...] | None = None,
) -> SynthData:
    """Registries and records for ``participants`` per consortium over ``days`` days from ``start``."""
    if participants < 1 or days < 1:
        raise ValueError("participants and days must be at least 1")
    rng = np.random.default_rng(seed)
    people = _participants(rng, participants, consortia, start, days)
    registries = _registries(consortia, people)
    wanted = set(record_types or (r.name for r in spec.RECORDS))
    builders = {
        "activity": _activity,
        "weight": _weight,
        "blood_pressure": _blood_pressure,
        "hba1c": _hba1c,
        "clinic_blood_pressure": _clinic_blood_pressure,
    }
    records = {name: build(rng, people, start, days) for name, build in builders.items() if name in wanted}
    data = SynthData(registries, records, [], start, days)
    if errors:
        _plant(data, rng)
    return data


# --- registries -----------------------------------------------------------------------------------------


def _participants(
    rng: np.random.Generator, count: int, consortia: tuple[str, ...], start: date, days: int
) -> pl.DataFrame:
    total = count * len(consortia)
    activity_device = rng.integers(0, len(ACTIVITY_DEVICES), total)
    bp_device = rng.integers(0, len(BP_MONITORS), total)
    ends = rng.random(total) < 0.15
    end_offsets = rng.integers(days, days + 90, total)
    return pl.DataFrame(
        {
            "consortium_id": np.repeat(np.array(consortia, dtype=object), count).tolist(),
            "participant_id": [f"P{n:05d}" for _ in consortia for n in range(1, count + 1)],
            "birth_year": rng.integers(1950, 1996, total),
            "birth_month": rng.integers(1, 13, total),
            "sex_code": rng.choice(["1", "2"], total).tolist(),
            "end_offset": np.where(ends, end_offsets, -1),
            "prefecture": rng.integers(1, 48, total),
            "commute_code": rng.choice(["1", "2", "3", "4", "5", "9"], total, p=[0.2, 0.1, 0.35, 0.25, 0.08, 0.02]),
            "medication_code": rng.choice(["0", "1", "2", "3", "9"], total, p=[0.55, 0.28, 0.08, 0.07, 0.02]),
            "wearing_position_code": rng.choice(["11", "21", "30", "31", "40"], total).tolist(),
            "activity_device": activity_device,
            "bp_device": bp_device,
            "base_steps": rng.lognormal(np.log(6500), 0.35, total),
            "base_weight": rng.normal(68, 12, total).clip(40, 140),
            "base_systolic": rng.normal(132, 14, total).clip(100, 180),
            "base_hba1c": rng.normal(6.6, 0.7, total).clip(5.2, 10.5),
            "lab": rng.choice(["LAB1", "LAB2"], total).tolist(),
            "method": rng.choice([m[0] for m in METHODS], total).tolist(),
            "start": [start] * total,
        }
    ).with_columns(
        pl.format("{}-{}", "consortium_id", pl.int_range(pl.len()).cast(pl.String).str.zfill(6)).alias("serial"),
    )


def _registries(consortia: tuple[str, ...], people: pl.DataFrame) -> dict[str, pl.DataFrame]:
    consortium = pl.DataFrame(
        {"consortium_id": list(consortia), "consortium_name": [f"合成コンソーシアム{c[-2:]}" for c in consortia]}
    )
    participant = people.select(
        "consortium_id",
        "participant_id",
        pl.format(
            "{}{}", pl.col("birth_year").cast(pl.String), pl.col("birth_month").cast(pl.String).str.zfill(2)
        ).alias("birth_year_month"),
        "sex_code",
        pl.col("start").dt.strftime("%Y%m%d").alias("participation_start_date"),
        pl.when(pl.col("end_offset") >= 0)
        .then((pl.col("start") + pl.duration(days=pl.col("end_offset"))).dt.strftime("%Y%m%d"))
        .alias("participation_end_date"),
        pl.col("prefecture").cast(pl.String).str.zfill(2).alias("residence_prefecture_code"),
        "commute_code",
        "medication_code",
        "wearing_position_code",
    )
    lab = pl.DataFrame(
        {
            "consortium_id": [c for c in consortia for _ in range(2)],
            "lab_id": ["LAB1", "LAB2"] * len(consortia),
            "lab_name": [f"合成検査センター{n}" for _ in consortia for n in (1, 2)],
            "lab_prefecture_code": ["13", "27"] * len(consortia),
        }
    )
    device = pl.DataFrame(
        {
            "model_manufacturer_code": [d.maker for d in DEVICES],
            "model_number": [d.model for d in DEVICES],
            "device_name": [d.name for d in DEVICES],
            "device_category_code": [d.category for d in DEVICES],
            "time_correction_code": [d.time_correction for d in DEVICES],
            "standard_compliance": [d.standard or None for d in DEVICES],
            "accuracy": [d.accuracy or None for d in DEVICES],
            "measured_items": [" ".join(d.measured) for d in DEVICES],
        }
    )
    recording = pl.DataFrame(
        {
            "model_manufacturer_code": [d.maker for d in ACTIVITY_DEVICES],
            "model_number": [d.model for d in ACTIVITY_DEVICES],
            "aggregation_code": ["1"] * len(ACTIVITY_DEVICES),
            "aggregation_minutes": ["1440"] * len(ACTIVITY_DEVICES),
        }
    )
    method = pl.DataFrame(
        {
            "method_code": [m[0] for m in METHODS],
            "method_category_code": [m[1] for m in METHODS],
            "method_name": [m[2] for m in METHODS],
        }
    )
    return {
        "consortium": consortium,
        "device": device,
        "activity_recording": recording,
        "hba1c_method": method,
        "lab": lab,
        "participant": participant,
    }


# --- records ----------------------------------------------------------------------------------------------


def _tenths(values: Any) -> pl.Expr:
    """An integer column of tenths as the wire's X.X text (exact, no float formatting)."""
    return pl.format("{}.{}", (values // 10).cast(pl.String), (values % 10).cast(pl.String))


def _grid(people: pl.DataFrame, days: int, share: float, rng: np.random.Generator) -> pl.DataFrame:
    """(participant row, day) pairs, every day (share 1) or on about ``share`` of days."""
    index = np.repeat(np.arange(people.height), days)
    day = np.tile(np.arange(days), people.height)
    if share < 1:
        keep = rng.random(index.size) < share
        index, day = index[keep], day[keep]
    return pl.DataFrame({"_p": index, "_day": day}).join(
        people.with_row_index("_p").with_columns(pl.col("_p").cast(pl.Int64)), on="_p", how="left"
    )


def _times(frame: pl.DataFrame, rng: np.random.Generator, first_second: int, spread: int) -> pl.DataFrame:
    """Observation time (day + a random moment) and update_time (minutes later, with milliseconds)."""
    seconds = rng.integers(first_second, first_second + spread, frame.height) // 60 * 60
    delay = rng.integers(60, 3 * 3600, frame.height)
    millis = rng.integers(0, 1000, frame.height)
    return frame.with_columns(
        _obs=pl.col("start").cast(pl.Datetime("ms"))
        + pl.duration(days=pl.col("_day"), seconds=pl.lit(pl.Series(seconds))),
    ).with_columns(
        observation_time=pl.col("_obs").dt.strftime("%Y%m%d%H%M%S"),
        update_time=(
            pl.col("_obs") + pl.duration(seconds=pl.lit(pl.Series(delay)), milliseconds=pl.lit(pl.Series(millis)))
        ).dt.strftime("%Y%m%d%H%M%S%3f"),
    )


def _input_codes(rng: np.random.Generator, size: int) -> pl.Series:
    return pl.Series(rng.choice(["0", "1", "2"], size, p=[0.93, 0.05, 0.02]), dtype=pl.String)


def _activity(rng: np.random.Generator, people: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    grid = _grid(people, days, 1.0, rng)
    n = grid.height
    steps = (grid["base_steps"].to_numpy() * rng.lognormal(0, 0.3, n)).clip(300, 30000).astype(np.int64)
    device = grid["activity_device"].to_numpy()
    measures = {f: np.array([f in d.measured for d in ACTIVITY_DEVICES])[device] for f in _ACTIVITY_FIELDS}
    calories_tenths = (steps * rng.normal(0.40, 0.04, n)).astype(np.int64)  # ~0.04 kcal per step, in tenths
    update_seconds = rng.integers(21 * 3600, 24 * 3600 - 1, n)
    millis = rng.integers(0, 1000, n)
    values = {
        "step": steps,
        "walk_time": steps // 110,
        "moderate_intensity_activity": (steps // 400 * rng.uniform(0.5, 1.5, n)).astype(np.int64),
        "calories": calories_tenths,
        "total_calories": calories_tenths + (rng.normal(15500, 1500, n)).astype(np.int64),
        "distance": (steps * 0.0070 * rng.uniform(0.9, 1.1, n)).astype(np.int64),  # tenths of km
        "exercise": (steps / 350 * rng.uniform(0.8, 1.2, n)).astype(np.int64),  # tenths of MET-hours
        "physical_activity": (calories_tenths * 0.9).astype(np.int64),
    }
    decimals = {"calories", "total_calories", "distance", "exercise", "physical_activity"}
    columns: list[pl.Expr] = [
        pl.col("consortium_id"),
        pl.col("participant_id"),
        (pl.col("start") + pl.duration(days=pl.col("_day"))).dt.strftime("%Y%m%d000000").alias("observation_time"),
        pl.lit(pl.Series(steps)).cast(pl.String).alias("step"),
    ]
    for name in _ACTIVITY_FIELDS:
        raw = pl.lit(pl.Series(values[name]))
        text = _tenths(raw) if name in decimals else raw.cast(pl.String)
        columns.append(pl.when(pl.lit(pl.Series(measures[name]))).then(text).alias(name))
    category = np.array([d.category for d in ACTIVITY_DEVICES])[device]
    columns += [
        pl.lit(pl.Series(np.array([d.maker for d in ACTIVITY_DEVICES])[device])).alias("model_manufacturer_code"),
        pl.lit(pl.Series(np.array([d.model for d in ACTIVITY_DEVICES])[device])).alias("model_number"),
        pl.col("serial").alias("production_specification_serial"),
        pl.lit("1440").alias("total_active_duration"),
        pl.lit(pl.Series(_input_codes(rng, n))).alias("data_input_code"),
        pl.when(pl.lit(pl.Series(np.isin(category, ["1", "5"]))))
        .then(pl.col("wearing_position_code"))
        .alias("measurement_position_code"),
        pl.lit(pl.Series(np.where(category == "4", "1", "0"))).alias("origin_of_time_code"),
        (
            pl.col("start").cast(pl.Datetime("ms"))
            + pl.duration(
                days=pl.col("_day"), seconds=pl.lit(pl.Series(update_seconds)), milliseconds=pl.lit(pl.Series(millis))
            )
        )
        .dt.strftime("%Y%m%d%H%M%S%3f")
        .alias("update_time"),
    ]
    return grid.select(columns)


def _weight(rng: np.random.Generator, people: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    grid = _times(_grid(people, days, 3 / 7, rng), rng, 6 * 3600 + 1800, 2 * 3600)
    tenths = ((grid["base_weight"].to_numpy() + rng.normal(0, 0.5, grid.height)) * 10).astype(np.int64)
    scale = SCALES[0]
    return grid.select(
        "consortium_id",
        "participant_id",
        "observation_time",
        _tenths(pl.lit(pl.Series(tenths))).alias("body_weight"),
        pl.lit(scale.maker).alias("model_manufacturer_code"),
        pl.lit(scale.model).alias("model_number"),
        pl.format("{}-W", "serial").alias("production_specification_serial"),
        pl.lit(pl.Series(_input_codes(rng, grid.height))).alias("data_input_code"),
        pl.lit("0").alias("origin_of_time_code"),
        "update_time",
    )


def _blood_pressure(rng: np.random.Generator, people: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    grid = _times(_grid(people, days, 4 / 7, rng), rng, 6 * 3600, 2 * 3600)
    n = grid.height
    systolic = (grid["base_systolic"].to_numpy() + rng.normal(0, 7, n)).round().astype(np.int64)
    diastolic = (systolic * rng.normal(0.63, 0.04, n)).round().astype(np.int64)
    pulse = rng.normal(70, 8, n).round().clip(45, 110).astype(np.int64)
    device = grid["bp_device"].to_numpy()
    has_pulse = np.array(["pulse_rate" in d.measured for d in BP_MONITORS])[device]
    return grid.select(
        "consortium_id",
        "participant_id",
        "observation_time",
        pl.lit(pl.Series(systolic)).cast(pl.String).alias("systolic_bp"),
        pl.lit(pl.Series(diastolic)).cast(pl.String).alias("diastolic_bp"),
        pl.when(pl.lit(pl.Series(has_pulse))).then(pl.lit(pl.Series(pulse)).cast(pl.String)).alias("pulse_rate"),
        pl.lit(pl.Series(np.array([d.maker for d in BP_MONITORS])[device])).alias("model_manufacturer_code"),
        pl.lit(pl.Series(np.array([d.model for d in BP_MONITORS])[device])).alias("model_number"),
        pl.format("{}-B", "serial").alias("production_specification_serial"),
        pl.lit(pl.Series(_input_codes(rng, n))).alias("data_input_code"),
        pl.lit("0").alias("origin_of_time_code"),
        "update_time",
    )


def _visits(people: pl.DataFrame, days: int) -> pl.DataFrame:
    """Baseline (day 0) and, when the period reaches it, three months later (day 90)."""
    visit_days = [0] + ([90] if days > 92 else [])
    return people.join(pl.DataFrame({"_day": visit_days, "_visit": list(range(len(visit_days)))}), how="cross")


def _hba1c(rng: np.random.Generator, people: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    visits = _visits(people, days)
    n = visits.height
    change = np.where(visits["_visit"].to_numpy() == 0, 0.0, rng.normal(-0.3, 0.3, n))
    tenths = ((visits["base_hba1c"].to_numpy() + change) * 10).round().astype(np.int64)
    return visits.select(
        "consortium_id",
        "participant_id",
        (pl.col("start") + pl.duration(days=pl.col("_day"))).dt.strftime("%Y%m%d000000").alias("observation_time"),
        _tenths(pl.lit(pl.Series(tenths))).alias("hba1c"),
        pl.col("lab").alias("lab_id"),
        pl.col("method").alias("hba1c_method_code"),
        pl.lit("0").alias("data_input_code"),
        (pl.col("start").cast(pl.Datetime("ms")) + pl.duration(days=pl.col("_day"), hours=18))
        .dt.strftime("%Y%m%d%H%M%S%3f")
        .alias("update_time"),
    )


def _clinic_blood_pressure(rng: np.random.Generator, people: pl.DataFrame, start: date, days: int) -> pl.DataFrame:
    visits = _visits(people, days)
    n = visits.height
    systolic = (visits["base_systolic"].to_numpy() + rng.normal(4, 8, n)).round().astype(np.int64)
    diastolic = (systolic * rng.normal(0.62, 0.04, n)).round().astype(np.int64)
    return visits.select(
        "consortium_id",
        "participant_id",
        (pl.col("start") + pl.duration(days=pl.col("_day"))).dt.strftime("%Y%m%d000000").alias("observation_time"),
        pl.lit("1").alias("bp_context_code"),
        pl.lit(pl.Series(systolic)).cast(pl.String).alias("systolic_bp"),
        pl.lit(pl.Series(diastolic)).cast(pl.String).alias("diastolic_bp"),
        pl.col("lab").alias("lab_id"),
        pl.lit("0").alias("data_input_code"),
        (pl.col("start").cast(pl.Datetime("ms")) + pl.duration(days=pl.col("_day"), hours=18))
        .dt.strftime("%Y%m%d%H%M%S%3f")
        .alias("update_time"),
    )


# --- planted errors and flags ---------------------------------------------------------------------------


_ACTIVITY_PLANTS: tuple[tuple[str, str, str, str], ...] = (
    # (code, field, how, severity): each goes into its own row (every activity device measures walk_time)
    ("DH-X103", "observation_time", "impossible_date", "error"),
    ("DH-X104", "observation_time", "future", "error"),
    ("DH-X102", "step", "123456", "error"),
    ("DH-X105", "step", "800.5", "error"),
    ("DH-X106", "data_input_code", "7", "error"),
    ("DH-X107", "step", "８０００", "error"),
    ("DH-X101", "step", "", "error"),
    ("DH-X108", "walk_time", "", "error"),
    ("DH-X111", "model_number", "ZZ-999", "error"),
    ("DH-X113", "observation_time", "before_start", "error"),
    ("DH-X110", "participant_id", UNKNOWN_PARTICIPANT, "error"),
    ("DH-W201", "step", "75000", "flag"),
)


def _plant(data: SynthData, rng: np.random.Generator) -> None:
    """Plant the problems in distinct rows and record where they are (row order is kept)."""
    activity = data.records.get("activity")
    if activity is not None and activity.height:
        # rows of participants still taking part (so a future time is only a future time), after day 0
        ongoing = data.registries["participant"].filter(pl.col("participation_end_date").is_null())
        candidates = (
            activity.with_row_index("_row")
            .join(ongoing.select("consortium_id", "participant_id"), on=["consortium_id", "participant_id"])
            .filter(pl.col("observation_time").str.slice(0, 8) != data.start.strftime("%Y%m%d"))
        )
        if candidates.height < len(_ACTIVITY_PLANTS) + 1:
            raise ValueError("too few activity records to plant errors: add participants or days")
        rows = sorted(rng.choice(candidates["_row"].to_numpy(), len(_ACTIVITY_PLANTS), replace=False).tolist())
        for row, (code, name, how, severity) in zip(rows, _ACTIVITY_PLANTS, strict=True):
            activity = _set(activity, row, name, _planted_value(data, activity, row, how))
            data.planted.append(_planted(activity, "activity", row, code, name, severity))
        planted_rows = set(rows)
        duplicate = activity.slice(int(rng.choice([r for r in range(activity.height) if r not in planted_rows])), 1)
        # the same record twice in one batch: the later one is reported (it comes last in the file)
        activity = pl.concat([activity, duplicate])
        data.planted.append(_planted(activity, "activity", activity.height - 1, "DH-X120", "", "error"))
        data.records["activity"] = activity
    for name, column, value, code, severity in (
        ("weight", "body_weight", "350.0", "DH-W201", "flag"),
        ("blood_pressure", "systolic_bp", None, "DH-W202", "flag"),
        ("hba1c", "lab_id", "LABX", "DH-X112", "error"),
        ("hba1c", "hba1c_method_code", "M99", "DH-X112", "error"),
    ):
        frame = data.records.get(name)
        if frame is None or frame.height < 3:
            continue
        taken = {p.row for p in data.planted if p.record_type == name}
        row = int(rng.choice([r for r in range(frame.height) if r not in taken]))
        if value is None:  # systolic not above diastolic, both inside their plausible ranges
            frame = _set(_set(frame, row, "systolic_bp", "88"), row, "diastolic_bp", "92")
        else:
            frame = _set(frame, row, column, value)
        data.records[name] = frame
        data.planted.append(_planted(frame, name, row, code, column, severity))


def _planted_value(data: SynthData, frame: pl.DataFrame, row: int, how: str) -> str:
    observed = str(frame["observation_time"][row])
    if how == "impossible_date":
        return f"{observed[:4]}0230{observed[8:]}"  # 30 February
    if how == "future":
        return (data.end + timedelta(days=400)).strftime("%Y%m%d") + observed[8:]
    if how == "before_start":
        return (data.start - timedelta(days=5)).strftime("%Y%m%d") + observed[8:]
    return how


def _set(frame: pl.DataFrame, row: int, name: str, value: str) -> pl.DataFrame:
    cell = None if value == "" else value
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(cell, dtype=pl.String)).otherwise(pl.col(name)).alias(name)
    )


def _planted(frame: pl.DataFrame, record_type: str, row: int, code: str, name: str, severity: str) -> Planted:
    consortium, participant = frame["consortium_id"][row], frame["participant_id"][row]
    before = frame.slice(0, row).filter(
        (pl.col("consortium_id") == consortium) & (pl.col("participant_id") == participant)
    )
    return Planted(record_type, row, code, name, severity, consortium, participant, before.height)


# --- writing ------------------------------------------------------------------------------------------


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """A CSV file as a consortium sends it: UTF-8, a header row of physical names, empty for absent."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, null_value="")
    return buffer.getvalue()


def csv_files(data: SynthData, *, registries: bool = True, records: bool = True) -> list[tuple[str, bytes]]:
    """(file name, content) for each record type: registries first, then records."""
    chosen = {**(data.registries if registries else {}), **(data.records if records else {})}
    return [(f"{name}.csv", csv_bytes(frame)) for name, frame in chosen.items()]


def json_messages(data: SynthData, send_time: datetime) -> Iterator[tuple[str, bytes]]:
    """One JSON message per participant: header + an array per record type (absent values omitted)."""
    keys = ("consortium_id", "participant_id")
    groups: dict[tuple[str, str], dict[str, list[dict[str, str]]]] = {}
    for name, frame in data.records.items():
        for row in frame.iter_rows(named=True):
            key = (row["consortium_id"], row["participant_id"])
            record = {k: v for k, v in row.items() if k not in keys and v is not None}
            groups.setdefault(key, {}).setdefault(name, []).append(record)
    stamp = send_time.strftime("%Y%m%d%H%M%S") + f"{send_time.microsecond // 1000:03d}"
    for (consortium, participant), arrays in groups.items():
        header = {
            "version": SEND_VERSION,
            "send_time": stamp,
            "consortium_id": consortium,
            "participant_id": participant,
        }
        body = json.dumps({"header": header, **arrays}, ensure_ascii=False, indent=1).encode()
        yield f"{consortium}-{participant}.json", body


def write_files(data: SynthData, outdir: Path, *, fmt: str = "csv", send_time: datetime | None = None) -> list[Path]:
    """Write registries as CSV and records as CSV (``csv``), JSON messages (``json``) or both."""
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, content in csv_files(data, records=fmt in ("csv", "both")):
        path = outdir / name
        path.write_bytes(content)
        written.append(path)
    if fmt in ("json", "both"):
        folder = outdir / "messages"
        folder.mkdir(exist_ok=True)
        moment = send_time or datetime.combine(data.end + timedelta(days=1), time(1))
        for name, content in json_messages(data, moment):
            path = folder / name
            path.write_bytes(content)
            written.append(path)
    if data.planted:
        path = outdir / TRUTH_FILE
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(ground_truth_csv(data))
        written.append(path)
    return written


def ground_truth_csv(data: SynthData) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["record_type", "csv_locator", "json_pointer", "code", "field", "severity", "consortium_id", "participant_id"]
    )
    for item in data.planted:
        writer.writerow(
            [
                item.record_type,
                item.csv_locator,
                item.json_pointer,
                item.code,
                item.field,
                item.severity,
                item.consortium_id,
                item.participant_id,
            ]
        )
    return buffer.getvalue().encode()
