"""Synthetic studies with known truth: registries, exchange files and a device validation set.

``generate_study`` builds, from one seed,

* the exchange hub's registries and daily activity (``datahealth.exchange.synth``), thinned by a drop-out
  day per participant and by days the device was not worn (intervention participants wear it more);
* HbA1c at a baseline visit (in the 40 days before the start) and near each follow-up target, drawn from
  ``level + (trend + effect × intervention) × day / 90 + noise`` per stratum, rounded to 0.1 as sent;
  visits after drop-out and 5 % of the others are missing;
* the allocation exactly as ``registry.generate_allocation`` draws it (stratified permuted blocks, same
  seed), so registering the study reproduces the planted arms;
* a device validation CSV (products A–F, counted reference steps vs device steps) with planted mean error
  rates, between-participant spread and measurement noise in the range seed 004 reports;
* ``truth``: the planted effect per stratum and follow-up and the planted device errors.

``ingest_study`` feeds the files through the exchange service (the same path as the API and the CLI)
and registers the study.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy.orm import Session

from datahealth.analytics.study.model import (
    Arm,
    Baseline,
    FollowUp,
    Strata,
    Stratum,
    StudyDefinition,
    dump_definition,
)
from datahealth.analytics.study.registry import RegisteredStudy, generate_allocation, register_study
from datahealth.exchange import synth as exchange_synth
from datahealth.exchange.service import IngestResult, Sender, Upload, ingest

ENROLMENT_DAYS = 60
"""Participation starts this many days before the study start (the baseline visit falls in between)."""
TREND = {"no_medication": -0.16, "medication": -0.05}
"""Planted change in the reference (control) arm over 90 days, HbA1c %."""
EFFECT = {"no_medication": -0.40, "medication": -0.20}
"""Planted intervention effect over 90 days (treated − control), HbA1c %."""
LEVEL = {"no_medication": (6.9, 0.5), "medication": (7.3, 0.7)}
NOISE_SD = 0.2
VISIT_MISSING = 0.05


@dataclass(frozen=True)
class PlantedDevice:
    product: str
    label_ja: str
    mean_error: float
    """Mean error rate, % (device − reference) / reference."""
    participant_sd: float
    """Between-participant SD of the error rate, %."""
    noise_sd: float = 1.0


PRODUCTS = (
    PlantedDevice("A", "製品A", -6.0, 15.0),
    PlantedDevice("B", "製品B", -13.3, 2.0),
    PlantedDevice("C", "製品C", -8.5, 15.0),
    PlantedDevice("D", "製品D", -0.6, 0.8),
    PlantedDevice("E", "製品E", -1.5, 1.0),
    PlantedDevice("F", "製品F", -11.0, 2.0),
)
VALIDATION_COLUMNS = ("product_code", "product_name", "participant_id", "trial", "device_steps", "reference_steps")


@dataclass
class StudyTruth:
    effect: dict[str, dict[str, float]]
    """stratum → follow-up → planted treated − control difference in change."""
    control_change: dict[str, dict[str, float]]
    devices: list[PlantedDevice]
    participants: int
    seed: int

    def as_json(self) -> str:
        data = {
            "effect": self.effect,
            "control_change": self.control_change,
            "devices": [asdict(d) for d in self.devices],
            "participants": self.participants,
            "seed": self.seed,
        }
        return json.dumps(data, ensure_ascii=False, indent=1)


@dataclass
class SynthStudy:
    definition: StudyDefinition
    data: exchange_synth.SynthData
    allocation: pl.DataFrame
    hba1c: pl.DataFrame
    """Numeric: consortium_id, participant_id, observation_time (datetime), hba1c (float) — as analysed."""
    validation: bytes
    truth: StudyTruth
    files: list[tuple[str, bytes]] = field(default_factory=list)


def default_definition(start: date, consortia: tuple[str, ...], code: str = "SYNTH-STUDY") -> StudyDefinition:
    return StudyDefinition(
        code=code,
        title_ja="合成研究：日々の健康情報を用いた介入と HbA1c",
        title_en="Synthetic study: intervention with daily health data and HbA1c",
        consortia=consortia,
        start_date=start,
        arms=(
            Arm(code="intervention", label_ja="介入あり", label_en="Intervention"),
            Arm(code="control", label_ja="介入なし", label_en="No intervention"),
        ),
        reference_arm="control",
        strata=Strata(
            field="medication_code",
            groups=(
                Stratum(code="no_medication", label_ja="投薬治療なし", label_en="No medication", codes=("0",)),
                Stratum(code="medication", label_ja="投薬治療あり", label_en="Medication", codes=("1", "2", "3")),
            ),
        ),
        baseline=Baseline(days_before=60, days_after=0),
        follow_ups=(
            FollowUp(code="m1_5", label_ja="1.5ヶ月後", label_en="1.5 months", target_days=45, window_days=14),
            FollowUp(code="m3", label_ja="3ヶ月後", label_en="3 months", target_days=90, window_days=30),
        ),
        primary_follow_up="m3",
    )


def horizon(definition: StudyDefinition) -> int:
    return max(f.target_days + f.window_days for f in definition.follow_ups)


def simulate_hba1c(
    rng: np.random.Generator, people: pl.DataFrame, definition: StudyDefinition
) -> tuple[pl.DataFrame, StudyTruth]:
    """HbA1c visits of ``people`` (consortium_id, participant_id, arm, stratum, dropout_day) and the truth."""
    n = people.height
    strata = people["stratum"].to_numpy()
    treated = (people["arm"].to_numpy() != definition.reference_arm).astype(float)
    mean = np.array([LEVEL.get(s, LEVEL["medication"])[0] for s in strata])
    sd = np.array([LEVEL.get(s, LEVEL["medication"])[1] for s in strata])
    level = rng.normal(mean, sd)
    slope = np.array([TREND.get(s, 0.0) for s in strata]) + treated * np.array([EFFECT.get(s, 0.0) for s in strata])
    dropout = people["dropout_day"].to_numpy()
    visits = [("baseline", rng.integers(-40, 0, n))]
    for f in definition.follow_ups:
        jitter = np.clip(np.round(rng.normal(0, max(f.window_days, 1) / 3, n)), -f.window_days, f.window_days)
        visits.append((f.code, (f.target_days + jitter).astype(np.int64)))
    frames = []
    for code, day in visits:
        value = level + slope * np.maximum(day, 0) / 90 + rng.normal(0, NOISE_SD, n)
        seen = (rng.random(n) >= VISIT_MISSING) | (code == "baseline")
        seen &= day < dropout
        frames.append(
            people.select("consortium_id", "participant_id")
            .with_columns(day=pl.Series(day), hba1c=pl.Series(np.round(value, 1)))
            .filter(pl.Series(seen))
        )
    visits_frame = pl.concat(frames).with_columns(
        observation_time=pl.lit(definition.start_date).cast(pl.Datetime("us")) + pl.duration(days=pl.col("day"))
    )
    truth = StudyTruth(
        effect={s: {f.code: EFFECT[s] * f.target_days / 90 for f in definition.follow_ups} for s in EFFECT},
        control_change={s: {f.code: TREND[s] * f.target_days / 90 for f in definition.follow_ups} for s in TREND},
        devices=list(PRODUCTS),
        participants=n,
        seed=0,
    )
    return visits_frame.drop("day"), truth


def simulate_people(
    rng: np.random.Generator, participant: pl.DataFrame, definition: StudyDefinition
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The allocation (as registration draws it) and per participant arm, stratum and drop-out day."""
    field_name = definition.strata.field
    allocation = generate_allocation(definition, participant.select("consortium_id", "participant_id", field_name))
    strata = [definition.stratum_of(code) or "unclassified" for code in participant[field_name].to_list()]
    n = participant.height
    control = (allocation["arm"] == definition.reference_arm).to_numpy()
    drops = rng.random(n) < np.where(control, 0.25, 0.15)
    dropout_day = np.where(drops, rng.integers(1, horizon(definition) + 30, n), 10**6)
    people = allocation.with_columns(stratum=pl.Series(strata), dropout_day=pl.Series(dropout_day))
    return allocation, people


def thin_activity(
    rng: np.random.Generator, activity: pl.DataFrame, people: pl.DataFrame, definition: StudyDefinition
) -> pl.DataFrame:
    """Drop the days after each participant's drop-out and the days the device was not worn."""
    start = np.datetime64(definition.start_date.isoformat())
    joined = activity.join(
        people.select("consortium_id", "participant_id", "arm", "dropout_day"),
        on=["consortium_id", "participant_id"],
        how="left",
    )
    day = (
        joined["observation_time"].str.slice(0, 8).str.to_date("%Y%m%d").to_numpy().astype("datetime64[D]") - start
    ).astype(np.int64)
    treated = (joined["arm"] != definition.reference_arm).to_numpy()
    wear = np.where(treated, 0.92, 0.82) - 0.002 * np.maximum(day, 0)
    keep = (rng.random(joined.height) < wear) & (day < joined["dropout_day"].fill_null(10**6).to_numpy())
    return activity.filter(pl.Series(keep))


def validation_csv(rng: np.random.Generator, products: tuple[PlantedDevice, ...] = PRODUCTS) -> bytes:
    """Counted reference steps (~1,000 per walk) and device steps, 12 participants × 5 trials per product."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(VALIDATION_COLUMNS)
    for product in products:
        for person in range(1, 13):
            person_error = rng.normal(product.mean_error, product.participant_sd)
            for trial in range(1, 6):
                reference = int(rng.normal(1000, 40))
                error = person_error + rng.normal(0, product.noise_sd)
                device = max(0, round(reference * (1 + error / 100)))
                writer.writerow([product.product, product.label_ja, f"V{person:03d}", trial, device, reference])
    return buffer.getvalue().encode("utf-8")


def _hba1c_wire(hba1c: pl.DataFrame, participant: pl.DataFrame) -> pl.DataFrame:
    """The HbA1c visits as a consortium sends them (lab and method of the participant's lab)."""
    return hba1c.with_columns(
        observation_time=pl.col("observation_time").dt.strftime("%Y%m%d000000"),
        hba1c=pl.format("{}", pl.col("hba1c").round(1)),
        lab_id=pl.lit("LAB1"),
        hba1c_method_code=pl.lit(exchange_synth.METHODS[0][0]),
        data_input_code=pl.lit("0"),
        update_time=(pl.col("observation_time") + pl.duration(hours=18)).dt.strftime("%Y%m%d%H%M%S000"),
    ).select(
        "consortium_id",
        "participant_id",
        "observation_time",
        "hba1c",
        "lab_id",
        "hba1c_method_code",
        "data_input_code",
        "update_time",
    )


def generate_study(
    *,
    participants: int,
    start: date,
    seed: int = 1,
    consortia: tuple[str, ...] = ("SYN01",),
    definition: StudyDefinition | None = None,
) -> SynthStudy:
    """Everything a synthetic study needs, from one seed (see the module docstring)."""
    definition = definition or default_definition(start, consortia)
    enrol = definition.start_date - timedelta(days=ENROLMENT_DAYS)
    days = ENROLMENT_DAYS + horizon(definition) + 1
    data = exchange_synth.generate(
        participants=participants,
        days=days,
        consortia=definition.consortia,
        start=enrol,
        seed=seed,
        record_types=("activity",),
    )
    rng = np.random.default_rng([seed, 6])
    participant = data.registries["participant"]
    allocation, people = simulate_people(rng, participant, definition)
    hba1c, truth = simulate_hba1c(rng, people, definition)
    truth.seed = seed
    data.records["activity"] = thin_activity(rng, data.records["activity"], people, definition)
    data.records["hba1c"] = _hba1c_wire(hba1c, participant)
    validation = validation_csv(rng)
    study = SynthStudy(definition, data, allocation, hba1c, validation, truth)
    study.files = [
        *exchange_synth.csv_files(data),
        ("study/study.yaml", dump_definition(definition).encode("utf-8")),
        ("study/allocation.csv", _csv(allocation)),
        ("study/validation.csv", validation),
        ("study/truth.json", truth.as_json().encode("utf-8")),
    ]
    return study


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def write_study(study: SynthStudy, outdir: Path) -> list[Path]:
    """Exchange CSV files at the top (``datahealth exchange ingest OUTDIR`` sends them), the rest in study/."""
    written = []
    for name, content in study.files:
        path = outdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def ingest_study(
    db: Session, study: SynthStudy, *, now: datetime, replace: bool = True
) -> tuple[IngestResult, RegisteredStudy]:
    """Send the exchange files through the exchange service (as the secretariat) and register the study."""
    uploads = [Upload(name=name, data=content) for name, content in study.files if "/" not in name]
    result = ingest(db, Sender(None, "cli:synth-study"), uploads, channel="cli", now=now)
    registered = register_study(db, study.definition, now=now, by="synth", replace=replace)
    return result, registered
