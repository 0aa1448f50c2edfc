"""Health scoring per insurer (スコアリングレポート, seed 004): checkups, guidance, risks, habits, costs, generics.

Per insurer and fiscal year, as Ibis expressions (DuckDB or Spark), from the linked tables:

* 特定健診 rate: members aged 40–74 at the fiscal year's end and enrolled all year who had a checkup;
* 特定保健指導 rate: of those the checkup put in guidance (動機付け/積極的), the share who received it;
* shares at risk among those checked, by the 保健指導判定値 of 厚生労働省「標準的な健診・保健指導プログラム
  （平成30年度版）」: obesity (waist ≥ 85 cm men / ≥ 90 cm women, or BMI ≥ 25), blood pressure (SBP ≥ 130
  or DBP ≥ 85 mmHg), liver (AST ≥ 31 or ALT ≥ 31 or γ-GT ≥ 51 U/L), lipids (TG ≥ 150 or HDL < 40 or
  LDL ≥ 120 mg/dL), glucose (fasting glucose ≥ 100 mg/dL or HbA1c ≥ 5.6 %);
* shares with good habits (質問票): non-smoking, exercise, diet (no late dinner and no skipped breakfast),
  alcohol (not daily), sleep (rested);
* medical cost per member by age band and sex; generic drug share (dispensing lines).

Each value is compared with the all-insurer average (the same insurer type, pooled) and the same-industry
average (健保組合), graded 1–5 by quintile among insurers with at least 50 people in the denominator
(5 = best fifth; "better" is higher for rates and habits, lower for risks and cost), and shown for three
fiscal years. A value over fewer than 50 people is not shown ("×").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd
from ibis.expr.types import BooleanValue, Table

from datahealth.analytics.linked.engines import LinkedTables

MIN_GROUP = 50
FISCAL_YEARS = (2021, 2022, 2023)
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("0–19", 0, 19), ("20–39", 20, 39), ("40–64", 40, 64), ("65–74", 65, 74), ("75–", 75, 200),
)  # fmt: skip


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    numerator: str
    denominator: str
    higher_is_better: bool
    group: str


METRICS: tuple[Metric, ...] = (
    Metric("checkup_rate", "特定健診実施率", "checked", "targets", True, "予防・健康づくりへの取組"),
    Metric("guidance_rate", "特定保健指導実施率", "guided", "guidance_targets", True, "予防・健康づくりへの取組"),
    Metric("obesity", "肥満（腹囲・BMI）", "risk_obesity", "checked", False, "健康状況（リスク保有者の割合）"),
    Metric("blood_pressure", "血圧", "risk_bp", "checked", False, "健康状況（リスク保有者の割合）"),
    Metric("liver", "肝機能", "risk_liver", "checked", False, "健康状況（リスク保有者の割合）"),
    Metric("lipids", "脂質", "risk_lipids", "checked", False, "健康状況（リスク保有者の割合）"),
    Metric("glucose", "血糖", "risk_glucose", "checked", False, "健康状況（リスク保有者の割合）"),
    Metric("no_smoking", "喫煙しない", "good_smoking", "checked", True, "生活習慣（良好な人の割合）"),
    Metric("exercise", "運動習慣", "good_exercise", "checked", True, "生活習慣（良好な人の割合）"),
    Metric("diet", "食事（遅い夕食・朝食抜きなし）", "good_diet", "checked", True, "生活習慣（良好な人の割合）"),
    Metric("alcohol", "飲酒（毎日飲まない）", "good_alcohol", "checked", True, "生活習慣（良好な人の割合）"),
    Metric("sleep", "睡眠で休養", "good_sleep", "checked", True, "生活習慣（良好な人の割合）"),
    Metric("generic", "後発医薬品使用割合", "generic_lines", "dispensed_lines", True, "医療費"),
)


def _count(condition: BooleanValue) -> ibis.expr.types.IntegerScalar:
    return ibis.ifelse(condition, 1, 0).sum()


def members_expr(tables: LinkedTables) -> Table:
    """pid, insurer_no, sex, age (at the fiscal year's end), fiscal_year: members enrolled all year."""
    persons = tables["persons"]
    parts = []
    for fy in FISCAL_YEARS:
        start, end = fy * 12 + 3, fy * 12 + 14
        birth_months = (persons.birth_ym // 100) * 12 + persons.birth_ym % 100 - 1
        age = ((fy + 1) * 12 + 2 - birth_months) // 12
        kept = persons.filter((persons.enrol_start <= start) & (persons.enrol_end >= end))
        parts.append(
            kept.select("pid", "insurer_no", "sex", age=age.cast("int32"), fiscal_year=ibis.literal(fy, type="int32"))
        )
    return ibis.union(*parts, distinct=False)


def checkup_expr(tables: LinkedTables) -> Table:
    members = members_expr(tables)
    targets = members.filter((members.age >= 40) & (members.age <= 74))
    checkups = tables["checkups"]
    c = checkups.select(
        "pid",
        "fiscal_year",
        took=ibis.literal(1),
        in_guidance=checkups.guidance_level > 0,
        guided=(checkups.guidance_level > 0) & checkups.guidance_done,
        risk_obesity=checkups.bmi >= 25,
        waist=checkups.waist_cm,
        risk_bp=(checkups.sbp >= 130) | (checkups.dbp >= 85),
        risk_liver=(checkups.ast >= 31) | (checkups.alt >= 31) | (checkups.ggt >= 51),
        risk_lipids=(checkups.tg >= 150) | (checkups.hdl < 40) | (checkups.ldl >= 120),
        risk_glucose=(checkups.fpg >= 100) | (checkups.hba1c >= 5.6),
        good_smoking=~checkups.smoking,
        good_exercise=checkups.exercise,
        good_diet=~checkups.late_dinner & ~checkups.skip_breakfast,
        good_alcohol=~checkups.daily_alcohol,
        good_sleep=checkups.sleep_ok,
    )
    joined = targets.left_join(c, ["pid", "fiscal_year"])
    waist_limit = ibis.ifelse(joined.sex == 1, 85.0, 90.0)
    obesity = joined.risk_obesity | (joined.waist >= waist_limit)
    return joined.group_by(["insurer_no", "fiscal_year"]).aggregate(
        targets=joined.count(),
        checked=joined.took.sum(),
        guidance_targets=_count(joined.in_guidance),
        guided=_count(joined.guided),
        risk_obesity=_count(obesity),
        risk_bp=_count(joined.risk_bp),
        risk_liver=_count(joined.risk_liver),
        risk_lipids=_count(joined.risk_lipids),
        risk_glucose=_count(joined.risk_glucose),
        good_smoking=_count(joined.good_smoking),
        good_exercise=_count(joined.good_exercise),
        good_diet=_count(joined.good_diet),
        good_alcohol=_count(joined.good_alcohol),
        good_sleep=_count(joined.good_sleep),
    )


def cost_expr(tables: LinkedTables) -> Table:
    """Per insurer, fiscal year, age band and sex: members, medical cost; plus dispensing lines."""
    members = members_expr(tables)
    band = ibis.cases(*((members.age.between(lo, hi), label) for label, lo, hi in AGE_BANDS), else_="?")
    members = members.mutate(band=band)
    medical = tables["medical"]
    fy = ((medical.month - 3) // 12).cast("int32")
    per_person = (
        medical.mutate(fiscal_year=fy)
        .group_by(["pid", "fiscal_year"])
        .aggregate(
            cost=medical.cost_yen.sum(),
            generic_lines=_count(medical.generic.fill_null(False)),
            dispensed_lines=_count(medical.generic.notnull()),
        )
    )
    joined = members.left_join(per_person, ["pid", "fiscal_year"])
    return joined.group_by(["insurer_no", "fiscal_year", "band", "sex"]).aggregate(
        members=joined.count(),
        cost=joined.cost.fill_null(0).sum(),
        generic_lines=joined.generic_lines.fill_null(0).sum(),
        dispensed_lines=joined.dispensed_lines.fill_null(0).sum(),
    )


@dataclass
class ScoringData:
    """Per insurer and fiscal year: the counts behind every metric, the costs by band/sex, insurer facts."""

    counts: pd.DataFrame  # index (insurer_no, fiscal_year); numerator/denominator columns
    costs: pd.DataFrame  # columns insurer_no, fiscal_year, band, sex, members, cost
    insurers: pd.DataFrame  # insurer_no, insurer_type, industry, insurer_name
    engine: str = ""
    _grades: dict[tuple[str, int], pd.DataFrame] = field(default_factory=dict)


def compute(tables: LinkedTables, insurers: pd.DataFrame) -> ScoringData:
    checkups = tables.backend.execute(checkup_expr(tables).order_by(["insurer_no", "fiscal_year"]))
    costs = tables.backend.execute(cost_expr(tables).order_by(["insurer_no", "fiscal_year", "band", "sex"]))
    generics = costs.groupby(["insurer_no", "fiscal_year"])[["generic_lines", "dispensed_lines"]].sum()
    counts = checkups.set_index(["insurer_no", "fiscal_year"]).join(generics, how="outer").fillna(0).astype("int64")
    return ScoringData(counts.sort_index(), costs, insurers, tables.engine)


def values(data: ScoringData, metric: Metric, fy: int) -> pd.Series:
    """The metric per insurer (NaN where the denominator is under MIN_GROUP)."""
    frame = data.counts.xs(fy, level="fiscal_year")
    num = frame[metric.numerator].astype(float)
    den = frame[metric.denominator].astype(float)
    value = num / den.where(den >= MIN_GROUP)
    return value


def pooled(data: ScoringData, metric: Metric, fy: int, insurers: list[str]) -> float | None:
    frame = data.counts.xs(fy, level="fiscal_year")
    frame = frame[frame.index.isin(insurers)]
    den = float(frame[metric.denominator].sum())
    return float(frame[metric.numerator].sum()) / den if den >= MIN_GROUP else None


def grade(value: float | None, peers: pd.Series, higher_is_better: bool) -> int | None:
    """1–5 by quintile among peers (5 = best fifth); None when the value is not shown."""
    known = peers.dropna().to_numpy()
    if value is None or np.isnan(value) or len(known) < 5:  # noqa: PLR2004 - quintiles need five peers
        return None
    below = float(np.mean(known < value)) + 0.5 * float(np.mean(known == value))
    position = below if higher_is_better else 1 - below
    return min(5, int(position * 5) + 1)


# --- one insurer's report ---------------------------------------------------------------------------

HIDDEN = "×"


@dataclass(frozen=True)
class MetricRow:
    metric: Metric
    values: tuple[float | None, ...]  # per fiscal year, None = fewer than MIN_GROUP people ("×")
    all_average: float | None
    industry_average: float | None
    grade: int | None
    trend: str  # 改善 / 悪化 / 横ばい / ""


@dataclass(frozen=True)
class CostCell:
    band: str
    sex: int
    members: int
    cost_per_member: float | None  # None = fewer than MIN_GROUP members


@dataclass(frozen=True)
class InsurerReport:
    insurer_no: str
    name: str
    insurer_type: str
    industry: str | None
    members: int
    fiscal_years: tuple[int, ...]
    rows: tuple[MetricRow, ...]
    costs: tuple[CostCell, ...]
    cost_all_average: dict[tuple[str, int], float | None]
    engine: str


def _trend(values: tuple[float | None, ...], higher_is_better: bool) -> str:
    first, last = values[0], values[-1]
    if first is None or last is None:
        return ""
    change = last - first
    if abs(change) < 0.01:  # noqa: PLR2004 - one percentage point
        return "横ばい"
    return "改善" if (change > 0) == higher_is_better else "悪化"


def _none(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def report_for(data: ScoringData, insurer_no: str) -> InsurerReport:
    facts = data.insurers.set_index("insurer_no").loc[insurer_no]
    same_type = data.insurers[data.insurers.insurer_type == facts.insurer_type].insurer_no.tolist()
    industry = facts.industry if isinstance(facts.industry, str) else None
    same_industry = (
        data.insurers[
            (data.insurers.insurer_type == facts.insurer_type) & (data.insurers.industry == industry)
        ].insurer_no.tolist()
        if industry
        else []
    )
    latest = FISCAL_YEARS[-1]
    rows = []
    for metric in METRICS:
        per_year = []
        for fy in FISCAL_YEARS:
            series = values(data, metric, fy)
            per_year.append(_none(series.get(insurer_no, np.nan)))
        peers = values(data, metric, latest)
        peers = peers[peers.index.isin(same_type)]
        rows.append(
            MetricRow(
                metric,
                tuple(per_year),
                pooled(data, metric, latest, same_type),
                pooled(data, metric, latest, same_industry) if same_industry else None,
                grade(per_year[-1], peers, metric.higher_is_better),
                _trend(tuple(per_year), metric.higher_is_better),
            )
        )
    costs = data.costs[data.costs.fiscal_year == latest]
    own = costs[costs.insurer_no == insurer_no]
    cells = []
    for label, _lo, _hi in AGE_BANDS:
        for sex in (1, 2):
            match = own[(own.band == label) & (own.sex == sex)]
            members = int(match.members.sum())
            cost = float(match.cost.sum())
            cells.append(CostCell(label, sex, members, cost / members if members >= MIN_GROUP else None))
    peer_costs = costs[costs.insurer_no.isin(same_type)].groupby(["band", "sex"])[["members", "cost"]].sum()
    averages: dict[tuple[str, int], float | None] = {}
    for (band, sex), row in peer_costs.iterrows():
        averages[(str(band), int(sex))] = float(row.cost) / row.members if row.members >= MIN_GROUP else None
    members_latest = int(own.members.sum())
    return InsurerReport(
        insurer_no,
        str(facts.insurer_name),
        str(facts.insurer_type),
        industry,
        members_latest,
        FISCAL_YEARS,
        tuple(rows),
        tuple(cells),
        averages,
        data.engine,
    )
