"""Synthetic national-style checkup, medical-claims and care-claims data (Parquet, streamed in chunks).

``generate(out, persons=N)`` writes, for fiscal years 2021–2023 (2021-04 … 2024-03)::

    insurers.parquet            insurer number, type, industry (健保組合), name
    raw/enrolment.parquet       each insurer's member register (identifiers as the insurer writes them)
    raw/checkups/*.parquet      特定健診 results and questionnaire, with identifiers as the checkup body writes them
    raw/medical/*.parquet       medical claims lines (one per claim and month), identifiers as each claim writes them
    raw/care/*.parquet          care claims (介護レセプト), with the care insurance number, name, birth date, sex
    truth/persons.parquet       ground truth (person id, canonical identity, planted index month) — for tests only

Identifiers differ between sources the way real ones do (half-width kana, hiragana, spaces, full-width
digits, zero padding, 和暦 dates, 男/女); a small share of care claims carries a mistyped name that
no normalisation may repair. Persons are generated chunk by chunk and each chunk is appended to the
Parquet files, so memory stays flat whatever ``persons`` is. A scenario plants monthly service-use
shares around an index event for a cohort of older persons (see ``scenarios``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datahealth.analytics.linked import population as pop
from datahealth.analytics.linked.scenarios import OFFSETS, SCENARIOS, Scenario

START_YEAR = 2021
START_MONTH = START_YEAR * 12 + 3  # April 2021 as months since year 0 (year * 12 + month - 1)
MONTHS = 36
FISCAL_YEARS = (2021, 2022, 2023)
CHUNK = 100_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SynthSummary:
    persons: int
    insurers: int
    checkups: int
    medical_rows: int
    care_rows: int
    cohort: int


def ym(month_index: np.ndarray) -> np.ndarray:
    """Months since year 0 → YYYYMM integers (診療年月)."""
    result: np.ndarray = (month_index // 12) * 100 + month_index % 12 + 1
    return result


def _dict(indices: np.ndarray, values: list[str] | tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(list(values), pa.string()))


# --- insurers ---------------------------------------------------------------------------------------


def make_insurers(persons: int, rng: np.random.Generator) -> pa.Table:
    counts = {
        "健保組合": max(12, persons // 8_000),
        "協会けんぽ": 47 if persons >= 200_000 else 3,
        "国保": max(4, persons // 20_000),
        "共済": max(3, persons // 100_000),
        "後期高齢": 47 if persons >= 200_000 else 2,
    }
    numbers: list[str] = []
    kinds: list[str] = []
    industries: list[str | None] = []
    names: list[str] = []
    weights: list[float] = []
    for kind, count in counts.items():
        sizes = rng.pareto(1.3, count) + 0.05  # a few large, many small (some under 50 members)
        for i in range(count):
            pref = 1 + (i % 47)
            if kind == "国保":
                number = f"{pref:02d}{i // 47 + 1:03d}{i % 10}"
            else:
                number = f"{pop.HOUJIN_CODE[kind]}{pref:02d}{i // 47 + 1:03d}{i % 10}"
            numbers.append(number)
            kinds.append(kind)
            industry = pop.INDUSTRIES[int(rng.integers(len(pop.INDUSTRIES)))] if kind == "健保組合" else None
            industries.append(industry)
            names.append(f"{kind}{i + 1:04d}")
            weights.append(float(sizes[i]))
    return pa.table(
        {
            "insurer_no": numbers,
            "insurer_type": kinds,
            "industry": pa.array(industries, pa.string()),
            "insurer_name": names,
            "weight": weights,
            "checkup_rate": rng.uniform(0.35, 0.9, len(numbers)),
            "guidance_rate": rng.uniform(0.05, 0.45, len(numbers)),
            "generic_rate": rng.uniform(0.65, 0.9, len(numbers)),
            "health_offset": rng.normal(0.0, 0.25, len(numbers)),
        }
    )


# --- identifier variants ----------------------------------------------------------------------------

_HALF = str.maketrans(
    {chr(c): chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)} | {"\u3000": " "},
)
_TO_FULL_DIGITS = str.maketrans({chr(0x30 + d): chr(0xFF10 + d) for d in range(10)})
_KATA_TO_HIRA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_HALF_KANA = dict(
    zip(
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォッャュョー",
        "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｯｬｭｮｰ",
        strict=True,
    )
)
_VOICED = dict(zip("ガギグゲゴザジズゼゾダヂヅデドバビブベボ", "カキクケコサシスセソタチツテトハヒフヘホ", strict=True))
_SEMI = dict(zip("パピプペポ", "ハヒフヘホ", strict=True))


def half_width_kana(text: str) -> str:
    out = []
    for ch in text:
        if ch in _VOICED:
            out.append(_HALF_KANA[_VOICED[ch]] + "ﾞ")
        elif ch in _SEMI:
            out.append(_HALF_KANA[_SEMI[ch]] + "ﾟ")
        elif ch == "\u3000":
            out.append(" ")
        else:
            out.append(_HALF_KANA.get(ch, ch))
    return "".join(out)


@lru_cache(maxsize=100_000)
def name_variant(family: str, given: str, style: int) -> str:
    """The same kana name as different systems write it (style 0 is the insurer register's)."""
    if style == 0:
        return f"{family}\u3000{given}"
    if style == 1:
        return half_width_kana(f"{family} {given}")
    if style == 2:
        return f"{family}{given}".translate(_KATA_TO_HIRA)
    if style == 3:
        return f"{family} {given}"
    return f" {family}\u3000\u3000{given} "


_ERA = (("R", 2019, 5, 1), ("H", 1989, 1, 8), ("S", 1926, 12, 25), ("T", 1912, 7, 30))


@lru_cache(maxsize=400_000)
def date_variant(year: int, month: int, day: int, style: int) -> str:
    if style == 0:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if style == 1:
        return f"{year:04d}{month:02d}{day:02d}"
    if style == 2:
        return f"{year}/{month}/{day}"
    for era, y0, m0, d0 in _ERA:
        if (year, month, day) >= (y0, m0, d0):
            label = "昭和" if style == 4 and era == "S" else era
            if style == 4 and label == "昭和":
                return f"昭和{year - 1925}年{month}月{day}日"
            return f"{era}{year - (y0 - 1)}.{month}.{day}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def number_variant(number: int, width: int, style: int) -> str:
    if style == 0:
        return f"{number:0{width}d}"
    if style == 1:
        return str(number)
    if style == 2:
        return f"{number:0{width}d}".translate(_TO_FULL_DIGITS)
    return f" {number} "


def sex_variant(sex: int, style: int) -> str:
    if style in (0, 1, 3):
        return str(sex)
    return "男" if sex == 1 else "女"


def typo(kana: str, rng: np.random.Generator) -> str:
    """Replace one character by a different katakana (a keying error no normalisation can repair)."""
    pos = int(rng.integers(len(kana)))
    if kana[pos] == "\u3000":
        pos = 0
    replacement = "ヌ" if kana[pos] != "ヌ" else "ネ"
    return kana[:pos] + replacement + kana[pos + 1 :]


# --- one chunk of persons ---------------------------------------------------------------------------


@dataclass
class Chunk:
    persons: pa.Table
    enrolment: pa.Table
    checkups: pa.Table
    medical: pa.Table
    care: pa.Table
    cohort: int


def _ages(n: int, rng: np.random.Generator) -> np.ndarray:
    bands = np.array([0, 20, 40, 65, 75, 95])
    weights = np.array([0.17, 0.22, 0.33, 0.14, 0.14])
    band = rng.choice(len(weights), n, p=weights)
    return rng.integers(bands[band], bands[band + 1])


def make_chunk(  # noqa: PLR0915 - one linear recipe reads best in one place
    first_id: int,
    n: int,
    insurers: pa.Table,
    rng: np.random.Generator,
    scenario: Scenario | None,
    cohort_fraction: float,
) -> Chunk:
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    age = _ages(n, rng)  # at 2021-04-01
    sex = rng.integers(1, 3, n)
    birth_days = rng.integers(0, 365, n)
    birth = np.datetime64("2021-04-01") - (age * 365.25).astype("timedelta64[D]") - birth_days.astype("timedelta64[D]")
    birth_str = birth.astype(str)
    parts = np.array([s.split("-") for s in birth_str], dtype=int)
    by, bm, bd = parts[:, 0], parts[:, 1], parts[:, 2]

    # insurer: 75+ → 後期高齢; others by age
    types = np.array(insurers.column("insurer_type").to_pylist())
    weight = np.array(insurers.column("weight").to_pylist())
    kind_probs_young = np.array([0.36, 0.36, 0.18, 0.10])
    kind_probs_old = np.array([0.12, 0.18, 0.64, 0.06])
    kinds = np.where(
        age >= 75,
        4,
        np.where(
            age >= 60,
            rng.choice(4, n, p=kind_probs_old),
            rng.choice(4, n, p=kind_probs_young),
        ),
    )
    insurer_idx = np.empty(n, dtype=np.int64)
    for k, kind in enumerate(pop.INSURER_TYPES):
        members = np.flatnonzero(types == kind)
        chosen = kinds == k
        p = weight[members] / weight[members].sum()
        insurer_idx[chosen] = members[rng.choice(len(members), int(chosen.sum()), p=p)]
    insurer_no = np.array(insurers.column("insurer_no").to_pylist())[insurer_idx]

    # enrolment: most the whole window, some join or leave inside it
    start = np.zeros(n, dtype=np.int64)
    end = np.full(n, MONTHS - 1, dtype=np.int64)
    partial = rng.random(n) < 0.12
    joins = partial & (rng.random(n) < 0.5)
    start[joins] = rng.integers(1, MONTHS - 1, int(joins.sum()))
    leaves = partial & ~joins
    end[leaves] = rng.integers(1, MONTHS - 1, int(leaves.sum()))

    symbol = rng.integers(1, 9999, n)
    number = rng.integers(1, 9_999_999, n)
    fam = rng.integers(len(pop.FAMILY_NAMES), size=n)
    giv = rng.integers(len(pop.GIVEN_NAMES_MALE), size=n)
    given_pool = (pop.GIVEN_NAMES_MALE, pop.GIVEN_NAMES_FEMALE)
    fam_kana = [pop.FAMILY_NAMES[f][1] for f in fam]
    giv_kana = [given_pool[s - 1][g][1] for s, g in zip(sex, giv, strict=True)]
    kanji = [pop.FAMILY_NAMES[f][0] + "\u3000" + given_pool[s - 1][g][0] for f, s, g in zip(fam, sex, giv, strict=True)]
    care_no = np.where(age >= 65, rng.integers(1_000_000_000, 9_999_999_999, n), 0)
    care_insurer = np.array(
        [f"{1 + (i % 47):02d}{int(c) % 1000:03d}1" for i, c in zip(insurer_idx, care_no, strict=True)]
    )

    # planted cohort: 65+, enrolled throughout, index month leaving 12 months before and 6 after
    index_month = np.full(n, -1, dtype=np.int64)
    if scenario is not None:
        eligible = (age >= 65) & (start == 0) & (end == MONTHS - 1)
        planted = eligible & (rng.random(n) < cohort_fraction)
        index_month[planted] = rng.integers(12, MONTHS - 6, int(planted.sum()))
    in_cohort = index_month >= 0

    def identity(style: np.ndarray, typo_rate: float = 0.0) -> dict[str, pa.Array]:
        names = []
        for i in range(n):
            text = name_variant(fam_kana[i], giv_kana[i], int(style[i]))
            if typo_rate and rng.random() < typo_rate:
                text = typo(text, rng)
            names.append(text)
        return {
            "name_kana": pa.array(names),
            "birth_date": pa.array([date_variant(int(by[i]), int(bm[i]), int(bd[i]), int(style[i])) for i in range(n)]),
            "sex": pa.array([sex_variant(int(sex[i]), int(style[i])) for i in range(n)]),
        }

    def member_ids(style: np.ndarray) -> dict[str, pa.Array]:
        return {
            "insurer_no": pa.array(
                [x.translate(_TO_FULL_DIGITS) if s == 2 else x for x, s in zip(insurer_no.tolist(), style, strict=True)]
            ),
            "member_symbol": pa.array([number_variant(int(x), 4, int(s)) for x, s in zip(symbol, style, strict=True)]),
            "member_number": pa.array([number_variant(int(x), 8, int(s)) for x, s in zip(number, style, strict=True)]),
        }

    register_style = np.zeros(n, dtype=np.int64)
    enrolment = pa.table(
        {
            **member_ids(register_style),
            "name_kanji": pa.array(kanji),
            **identity(register_style),
            "enrol_start_ym": pa.array(ym(START_MONTH + start)),
            "enrol_end_ym": pa.array(ym(START_MONTH + end)),
        }
    )
    persons = pa.table(
        {
            "person_id": ids,
            "insurer_no": insurer_no,
            "sex": sex,
            "birth_date": birth,
            "age_2021": age,
            "name_kana": [f"{a}\u3000{b}" for a, b in zip(fam_kana, giv_kana, strict=True)],
            "member_symbol": symbol,
            "member_number": number,
            "enrol_start_ym": ym(START_MONTH + start),
            "enrol_end_ym": ym(START_MONTH + end),
            "index_ym": np.where(in_cohort, ym(START_MONTH + np.maximum(index_month, 0)), 0),
        }
    )

    checkups = _checkups(n, age, sex, insurer_idx, insurers, start, end, rng, member_ids, identity)
    checkups = checkups.append_column("truth_person_id", pa.array(ids[checkups.column("_person").to_numpy()]))
    checkups = checkups.drop_columns(["_person"])
    medical = _medical(n, age, insurer_idx, insurers, start, end, in_cohort, index_month, rng, scenario)
    care = _care(n, age, start, end, in_cohort, index_month, rng, scenario)
    med_ids = member_ids(rng.integers(0, 5, n))
    med_identity = identity(rng.integers(0, 5, n))
    medical_table = _with_identity(medical, {**med_ids, **med_identity}, first_id)
    care_identity = identity(rng.integers(0, 5, n), typo_rate=0.003)
    care_ids = {"care_insurer_no": pa.array(care_insurer.tolist()), "care_number": pa.array(care_no.astype(str))}
    care_table = _with_identity(care, {**care_ids, **care_identity}, first_id)
    return Chunk(persons, enrolment, checkups, medical_table, care_table, int(in_cohort.sum()))


def _with_identity(rows: dict[str, np.ndarray | pa.Array], ids: dict[str, pa.Array], first_id: int) -> pa.Table:
    """Attach per-person identifier strings to rows (``rows['_person']`` is the index in the chunk).

    ``truth_person_id`` is the synthetic ground truth; linkage never matches on it (tests use it to prove
    that no row is linked to the wrong person).
    """
    person = rows.pop("_person")
    assert isinstance(person, np.ndarray)  # noqa: S101 - internal invariant
    indices = pa.array(person.astype(np.int32))
    columns: dict[str, pa.Array] = {name: pa.DictionaryArray.from_arrays(indices, arr) for name, arr in ids.items()}
    columns["truth_person_id"] = pa.array(person.astype(np.int64) + first_id)
    columns.update({name: value if isinstance(value, pa.Array) else pa.array(value) for name, value in rows.items()})
    return pa.table(columns)


def _checkups(  # noqa: PLR0913
    n: int,
    age: np.ndarray,
    sex: np.ndarray,
    insurer_idx: np.ndarray,
    insurers: pa.Table,
    start: np.ndarray,
    end: np.ndarray,
    rng: np.random.Generator,
    member_ids: Callable[[np.ndarray], dict[str, pa.Array]],
    identity: Callable[[np.ndarray], dict[str, pa.Array]],
) -> pa.Table:
    rate = np.array(insurers.column("checkup_rate").to_pylist())[insurer_idx]
    guidance_rate = np.array(insurers.column("guidance_rate").to_pylist())[insurer_idx]
    offset = np.array(insurers.column("health_offset").to_pylist())[insurer_idx]
    not_kouki = np.array(insurers.column("insurer_type").to_pylist())[insurer_idx] != "後期高齢"
    latent = rng.normal(0, 1, n) + offset  # a person's metabolic risk, stable over the years
    style = rng.integers(0, 5, n)
    ids = {**member_ids(style), **identity(style)}
    tables = []
    male = sex == 1
    for k, fy in enumerate(FISCAL_YEARS):
        a = age + k
        fy_start, fy_end = 12 * k, 12 * k + 11
        enrolled = (start <= fy_start) & (end >= fy_end)
        took = not_kouki & (a >= 40) & (a <= 74) & enrolled & (rng.random(n) < rate)
        idx = np.flatnonzero(took)
        m = len(idx)
        z = latent[idx] + 0.05 * k
        mm = male[idx]
        aa = a[idx]
        bmi = np.round(22.3 + 1.2 * mm + 2.6 * z + rng.normal(0, 1.6, m), 1)
        waist = np.round(80 + 5 * mm + 2.6 * (bmi - 22) + rng.normal(0, 3, m), 1)
        sbp = np.round(118 + 0.45 * (aa - 40) + 4 * mm + 6 * z + rng.normal(0, 10, m)).astype(int)
        dbp = np.round(72 + 0.15 * (aa - 40) + 4 * mm + 4 * z + rng.normal(0, 7, m)).astype(int)
        tg = np.round(np.exp(4.6 + 0.25 * mm + 0.25 * z + rng.normal(0, 0.45, m))).astype(int)
        hdl = np.round(62 - 8 * mm - 4 * z + rng.normal(0, 12, m)).astype(int)
        ldl = np.round(118 + 0.3 * (aa - 40) + 8 * z + rng.normal(0, 28, m)).astype(int)
        fpg = np.round(92 + 0.3 * (aa - 40) + 7 * z + rng.gamma(1.5, 4, m)).astype(int)
        hba1c = np.round(5.4 + 0.012 * (aa - 40) + 0.25 * z + rng.gamma(1.2, 0.12, m), 1)
        ast = np.round(20 + 2 * mm + 3 * z + rng.gamma(2, 2.5, m)).astype(int)
        alt = np.round(18 + 6 * mm + 6 * z + rng.gamma(2, 4, m)).astype(int)
        ggt = np.round(np.exp(3.2 + 0.5 * mm + 0.3 * z + rng.normal(0, 0.6, m))).astype(int)
        risks = (
            ((sbp >= 130) | (dbp >= 85)).astype(int)
            + ((tg >= 150) | (hdl < 40)).astype(int)
            + ((fpg >= 100) | (hba1c >= 5.6)).astype(int)
        )
        smoker = rng.random(m) < (0.28 * mm + 0.09)
        abdominal = (waist >= np.where(mm, 85, 90)) | (bmi >= 25)
        level = np.where(
            abdominal & (risks + smoker.astype(int) >= 2) & (aa < 65),
            2,
            np.where(abdominal & (risks + smoker.astype(int) >= 1), 1, 0),
        )
        guided = (level > 0) & (rng.random(m) < guidance_rate[idx])
        tables.append(
            pa.table(
                {
                    "_person": idx,
                    "fiscal_year": np.full(m, fy, dtype=np.int32),
                    "exam_ym": ym(START_MONTH + fy_start + rng.integers(0, 12, m)),
                    "height_cm": np.round(158 + 12 * mm + rng.normal(0, 6, m), 1),
                    "bmi": bmi,
                    "waist_cm": waist,
                    "sbp": sbp,
                    "dbp": dbp,
                    "tg": tg,
                    "hdl": hdl,
                    "ldl": ldl,
                    "fpg": fpg,
                    "hba1c": hba1c,
                    "ast": ast,
                    "alt": alt,
                    "ggt": ggt,
                    "smoking": smoker,
                    "exercise": rng.random(m) < 0.3 - 0.05 * z.clip(-1, 1),
                    "late_dinner": rng.random(m) < 0.3 + 0.05 * z.clip(-1, 1),
                    "skip_breakfast": rng.random(m) < 0.15,
                    "daily_alcohol": rng.random(m) < 0.35 * mm + 0.08,
                    "sleep_ok": rng.random(m) < 0.65,
                    "guidance_level": level.astype(np.int8),
                    "guidance_done": guided,
                }
            )
        )
    rows = pa.concat_tables(tables)
    person = rows.column("_person").to_numpy()
    body = {name: rows.column(name) for name in rows.column_names if name != "_person"}
    indices = pa.array(person.astype(np.int32))
    columns = {name: pa.DictionaryArray.from_arrays(indices, arr) for name, arr in ids.items()}
    columns.update({name: col.combine_chunks() for name, col in body.items()})
    columns["_person"] = pa.array(person)
    return pa.table(columns)


def _rows(parts: list[dict[str, np.ndarray]], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) if parts else np.array([]) for name in names}


_MED_COLUMNS = ("_person", "month", "setting", "ward", "icd10", "procedure", "generic", "cost_yen")
_ICD = (*pop.OUTPATIENT_ICD10, *pop.INPATIENT_ICD10, *pop.PNEUMONIA_ICD10, *pop.DEMENTIA_ICD10, "I63", "I69")
_ICD_INDEX = {code: i for i, code in enumerate(_ICD)}
_NONE = -1


def _medical(  # noqa: PLR0913
    n: int,
    age: np.ndarray,
    insurer_idx: np.ndarray,
    insurers: pa.Table,
    start: np.ndarray,
    end: np.ndarray,
    in_cohort: np.ndarray,
    index_month: np.ndarray,
    rng: np.random.Generator,
    scenario: Scenario | None,
) -> dict[str, np.ndarray | pa.Array]:
    generic_rate = np.array(insurers.column("generic_rate").to_pylist())[insurer_idx]
    span = end - start + 1
    parts: list[dict[str, np.ndarray]] = []

    def add(
        person: np.ndarray,
        month: np.ndarray,
        setting: int,
        ward: np.ndarray | int,
        icd: np.ndarray,
        cost: np.ndarray,
        procedure: int = _NONE,
        generic: np.ndarray | None = None,
    ) -> None:
        m = len(person)
        parts.append(
            {
                "_person": person,
                "month": month,
                "setting": np.full(m, setting),
                "ward": np.broadcast_to(np.asarray(ward), (m,)).copy(),
                "icd10": icd,
                "procedure": np.full(m, procedure),
                "generic": np.full(m, -1) if generic is None else generic.astype(int),
                "cost_yen": cost.astype(np.int64),
            }
        )

    # outpatient visits and pharmacy dispensing (everyone, background diagnoses only)
    lam = (3 + age / 10) * span / MONTHS
    visits = rng.poisson(lam)
    person = np.repeat(np.arange(n), visits)
    month = start[person] + (rng.random(len(person)) * span[person]).astype(np.int64)
    icd = rng.integers(0, len(pop.OUTPATIENT_ICD10), len(person))
    add(person, month, 0, _NONE, icd, rng.lognormal(8.3, 0.7, len(person)))
    dispensed = rng.random(len(person)) < 0.5
    pp = person[dispensed]
    add(
        pp,
        month[dispensed],
        1,
        _NONE,
        icd[dispensed],
        rng.lognormal(8.0, 0.9, len(pp)),
        generic=rng.random(len(pp)) < generic_rate[pp],
    )

    # background admissions, home visits, pneumonia and dementia: not for the planted cohort
    free = ~in_cohort
    stays = rng.poisson((0.05 + 0.012 * np.maximum(age - 40, 0)) * span / MONTHS) * free
    person = np.repeat(np.arange(n), stays)
    length = rng.integers(1, 3, len(person))
    first = start[person] + (rng.random(len(person)) * span[person]).astype(np.int64)
    icd = len(pop.OUTPATIENT_ICD10) + rng.integers(0, len(pop.INPATIENT_ICD10), len(person))
    ward = rng.choice(3, len(person), p=[0.85, 0.08, 0.07])
    for extra in range(3):
        keep = (extra < length) & (first + extra <= end[person])
        add(person[keep], first[keep] + extra, 2, ward[keep], icd[keep], rng.lognormal(12.5, 0.6, int(keep.sum())))
    old = free & (age >= 75)
    for setting, share, icds in (
        (3, 0.04, pop.OUTPATIENT_ICD10),
        (0, 0.03, pop.PNEUMONIA_ICD10),
        (0, 0.06, pop.DEMENTIA_ICD10),
    ):
        who = np.flatnonzero(old & (rng.random(n) < share))
        for _ in range(3):
            month = start[who] + (rng.random(len(who)) * span[who]).astype(np.int64)
            codes = np.array([_ICD_INDEX[c] for c in icds])[rng.integers(0, len(icds), len(who))]
            add(who, month, setting, _NONE, codes, rng.lognormal(9.5, 0.5, len(who)))

    if scenario is not None:
        parts.extend(_planted_medical(in_cohort, index_month, rng, scenario))
    rows = _rows(parts, _MED_COLUMNS)
    settings = rows["setting"]
    return {
        "_person": rows["_person"],
        "service_ym": ym(START_MONTH + rows["month"]),
        "setting": _dict(settings, pop.SETTINGS),
        "ward": _masked_dict(rows["ward"], pop.WARDS),
        "icd10": _dict(rows["icd10"], _ICD),
        "procedure": _masked_dict(rows["procedure"], pop.PROCEDURES),
        "generic": pa.array(rows["generic"] == 1, mask=rows["generic"] < 0),
        "cost_yen": rows["cost_yen"],
    }


def _masked_dict(indices: np.ndarray, values: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.maximum(indices, 0).astype(np.int32), mask=indices < 0), pa.array(list(values))
    )


_MEDICAL_PLAN = {
    # service key -> (setting, ward, icd10 before index, icd10 from index on, procedure)
    "general_ward": (2, 0, "K56", "I69", _NONE),
    "rehab_ward": (2, 1, "M48", "I69", _NONE),
    "longterm_ward": (2, 2, "I50", "I69", _NONE),
    "home_visit": (3, _NONE, "I10", "I69", _NONE),
    "home_nursing_medical": (4, _NONE, "I10", "I69", _NONE),
    "pneumonia": (0, _NONE, "J18", "J18", _NONE),
    "dementia": (0, _NONE, "F03", "F03", _NONE),
    "liaison": (0, _NONE, "I10", "I69", 0),
    "stroke_pathway": (0, _NONE, "I69", "I69", 1),
}
_CARE_PLAN = {"home_care": 0, "home_nursing_care": 1, "day_care": 2, "tokuyo": 3, "roken": 4}


def _planted_medical(
    in_cohort: np.ndarray, index_month: np.ndarray, rng: np.random.Generator, scenario: Scenario
) -> list[dict[str, np.ndarray]]:
    parts = []
    cohort = np.flatnonzero(in_cohort)
    for key, (setting, ward, before, after, procedure) in _MEDICAL_PLAN.items():
        if key not in scenario.shares:
            continue
        for offset in OFFSETS:
            share = scenario.share(key, offset)
            who = cohort[rng.random(len(cohort)) < share]
            m = len(who)
            icd = "I63" if (key == "general_ward" and offset == 0) else (before if offset < 0 else after)
            parts.append(
                {
                    "_person": who,
                    "month": index_month[who] + offset,
                    "setting": np.full(m, setting),
                    "ward": np.full(m, ward),
                    "icd10": np.full(m, _ICD_INDEX[icd]),
                    "procedure": np.full(m, procedure),
                    "generic": np.full(m, -1),
                    "cost_yen": rng.lognormal(12.0 if setting == 2 else 9.0, 0.5, m).astype(np.int64),
                }
            )
    return parts


def _care(
    n: int,
    age: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    in_cohort: np.ndarray,
    index_month: np.ndarray,
    rng: np.random.Generator,
    scenario: Scenario | None,
) -> dict[str, np.ndarray | pa.Array]:
    persons: list[np.ndarray] = []
    months: list[np.ndarray] = []
    services: list[np.ndarray] = []
    # background: some of the 75+ (not in the cohort) are certified and use services from some month on
    users = np.flatnonzero((age >= 75) & ~in_cohort & (rng.random(n) < 0.18))
    first = start[users] + (rng.random(len(users)) * (end[users] - start[users] + 1)).astype(np.int64)
    kinds = rng.choice(len(pop.CARE_SERVICES), len(users), p=[0.25, 0.08, 0.35, 0.08, 0.08, 0.16])
    for extra in range(MONTHS):
        keep = first + extra <= end[users]
        persons.append(users[keep])
        months.append(first[keep] + extra)
        services.append(kinds[keep])
    if scenario is not None and "care_insurance" in scenario.shares:
        cohort = np.flatnonzero(in_cohort)
        for offset in OFFSETS:
            any_share = scenario.share("care_insurance", offset)
            certified = cohort[rng.random(len(cohort)) < any_share]
            covered = np.zeros(len(certified), dtype=bool)
            for key, code in _CARE_PLAN.items():
                share = scenario.share(key, offset) if key in scenario.shares else 0.0
                if any_share <= 0 or share <= 0:
                    continue
                uses = rng.random(len(certified)) < min(1.0, share / any_share)
                persons.append(certified[uses])
                months.append(index_month[certified[uses]] + offset)
                services.append(np.full(int(uses.sum()), code))
                covered |= uses
            rest = certified[~covered]  # certified but only renting equipment this month
            persons.append(rest)
            months.append(index_month[rest] + offset)
            services.append(np.full(len(rest), 5))
    person = np.concatenate(persons).astype(np.int64)
    month = np.concatenate(months).astype(np.int64)
    service = np.concatenate(services).astype(np.int64)
    level = rng.integers(0, len(pop.CARE_LEVELS), n)[person]
    return {
        "_person": person,
        "service_ym": ym(START_MONTH + month),
        "care_level": _dict(level, pop.CARE_LEVELS),
        "service": _dict(service, pop.CARE_SERVICES),
        "cost_yen": rng.lognormal(10.5, 0.6, len(person)).astype(np.int64),
    }


# --- whole data set ---------------------------------------------------------------------------------


class _Sink:
    """Appends tables to ``dir/part-0.parquet`` (one writer per dataset, schema fixed by the first chunk)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self.writer.write_table(table.cast(self.writer.schema), row_group_size=1_000_000)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def generate(
    out: Path,
    persons: int,
    *,
    seed: int = 2018,
    scenario: str | None = "stroke",
    cohort_fraction: float | None = None,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> SynthSummary:
    """Write the whole synthetic data set under ``out`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    plan = SCENARIOS[scenario] if scenario else None
    fraction = cohort_fraction if cohort_fraction is not None else (plan.cohort_fraction if plan else 0.0)
    out.mkdir(parents=True, exist_ok=True)
    insurers = make_insurers(persons, rng)
    pq.write_table(
        insurers.select(["insurer_no", "insurer_type", "industry", "insurer_name"]), out / "insurers.parquet"
    )
    sinks = {
        name: _Sink(out / path)
        for name, path in (
            ("persons", "truth/persons.parquet"),
            ("enrolment", "raw/enrolment.parquet"),
            ("checkups", "raw/checkups/part-0.parquet"),
            ("medical", "raw/medical/part-0.parquet"),
            ("care", "raw/care/part-0.parquet"),
        )
    }
    cohort = 0
    try:
        for first in range(0, persons, chunk):
            n = min(chunk, persons - first)
            part = make_chunk(first, n, insurers, np.random.default_rng([seed, first]), plan, fraction)
            sinks["persons"].write(part.persons)
            sinks["enrolment"].write(part.enrolment)
            sinks["checkups"].write(part.checkups)
            sinks["medical"].write(part.medical)
            sinks["care"].write(part.care)
            cohort += part.cohort
            if progress is not None:
                progress(first + n, persons)
    finally:
        for sink in sinks.values():
            sink.close()
    return SynthSummary(
        persons, insurers.num_rows, sinks["checkups"].rows, sinks["medical"].rows, sinks["care"].rows, cohort
    )
