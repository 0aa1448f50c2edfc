"""Synthetic demo data: hospitals, accounts and answers to the FY2024 cybersecurity survey.

Everything here is made up by this module's own generators: hospital names are built from word
lists (any likeness to a real hospital is coincidence), respondents' names are drawn from common
Japanese surnames and given names, and answers follow the published national shares by bed band
(see ``docs``/the shared reference "Published figures from the ministry's hospital cybersecurity
surveys"). Never real data.

Demo accounts (all with the password ``DEMO_PASSWORD``):

* ``admin`` — the ministry's survey office (厚生労働省 調査事務局);
* ``demo-hospital1`` — さくら中央病院（デモ）, 東京都, 120 beds, has not started;
* ``demo-hospital2`` — みなと総合病院（デモ）, 神奈川県, 250 beds, has a draft;
* ``h<institution code>`` — every other synthetic hospital.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from datahealth.auth.passwords import hash_password
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.clock import JST
from datahealth.config import Settings
from datahealth.errors import Conflict
from datahealth.institutions import BED_BANDS, PREFECTURES, bed_band
from datahealth.survey.answers import prune
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import Answers, Question, QuestionType, SurveyDefinition
from datahealth.survey.service import create_survey, set_status, target_all_hospitals
from datahealth.survey.tables import Response, ResponseEvent, ResponseStatus, Survey, SurveyStatus

DEMO_TOTP_SECRET = "DEMOTOTPDEMOTOTPDEMOTOTPDEMOTOTP"  # noqa: S105 - documented, synthetic demo accounts only  # nosec B105
"""Administrators and consortium operators must log in with two factors; the demo's accounts of those
roles share this published TOTP secret so that a person trying the demo can add it to an authenticator
app (``datahealth demo`` prints it). Never used outside the demo database."""
DEMO_PASSWORD = "demo-password-2025"  # noqa: S105 - the documented password of the synthetic demo accounts  # nosec B105
ADMIN_LOGIN = "admin"
SURVEY_ID = "cyber-fy2024"
SUBMITTED_SHARE = 0.55
DRAFT_SHARE = 0.12
_CHUNK = 1000


@dataclass(frozen=True)
class _FixedHospital:
    login: str
    code: str
    name: str
    prefecture_code: int
    bed_count: int
    founder_type: str
    status: str  # "not_started" or "draft"


FIXED_HOSPITALS: tuple[_FixedHospital, ...] = (
    _FixedHospital(
        "demo-hospital1", "1319999901", "さくら中央病院（デモ）", 13, 120, "medical_corporation", "not_started"
    ),
    _FixedHospital("demo-hospital2", "1419999902", "みなと総合病院（デモ）", 14, 250, "public", "draft"),
)
"""Documented accounts a person can try; their codes lie outside the generated range (…9999xx)."""


@dataclass
class DemoSummary:
    hospitals: int
    submitted: int
    drafts: int
    survey_id: int
    admin_login: str
    hospital_logins: list[str]
    """Documented hospital logins to try: the fixed demo accounts, then one that has submitted."""
    password: str


# --- word lists -----------------------------------------------------------------------------------

# Population of each prefecture (2020 census, ten thousands), in JIS order: hospitals follow people.
_POPULATION = (
    522,
    124,
    121,
    230,
    96,
    107,
    183,
    287,
    193,
    194,
    734,
    628,
    1405,
    924,
    220,
    103,
    113,
    77,
    81,
    205,
    198,
    363,
    754,
    177,
    141,
    258,
    884,
    547,
    132,
    92,
    55,
    67,
    189,
    280,
    134,
    72,
    95,
    133,
    69,
    514,
    81,
    131,
    174,
    112,
    107,
    159,
    147,
)
_CITY_HEADS = (
    "大",
    "小",
    "高",
    "新",
    "上",
    "下",
    "中",
    "北",
    "南",
    "東",
    "西",
    "本",
    "若",
    "白",
    "青",
    "松",
    "桜",
    "旭",
    "千",
    "美",
)
_CITY_TAILS = (
    "川",
    "山",
    "田",
    "野",
    "原",
    "島",
    "崎",
    "沢",
    "浜",
    "森",
    "岡",
    "台",
    "津",
    "谷",
    "瀬",
    "里",
    "見",
    "宮",
    "丘",
    "浦",
)
_PLACES = (
    "中央",
    "青葉",
    "緑ヶ丘",
    "桜台",
    "東山",
    "西原",
    "南台",
    "北野",
    "若葉",
    "朝日",
    "富士見",
    "松原",
    "川端",
    "高砂",
    "清水",
    "本郷",
    "栄",
    "港南",
    "平和台",
    "泉",
    "光が丘",
    "柏木",
    "みどり",
    "ひかり",
    "さくら",
    "あおば",
    "駅前",
    "山手",
    "美原",
    "白鷺",
    "星川",
    "湖南",
    "鶴見台",
    "宮前",
    "城山",
    "浜風",
    "杉の木",
    "梅林",
    "花園",
    "紅葉台",
)
_CORPORATE = (
    "慈光",
    "誠心",
    "康生",
    "博愛",
    "仁和",
    "清風",
    "明星",
    "陽光",
    "緑風",
    "松柏",
    "瑞穂",
    "葵",
    "光輝",
    "和光",
    "泉水",
    "敬愛",
    "恒生",
    "恵愛",
    "啓仁",
    "青嶺",
    "穂積",
    "愛生",
    "穂香",
    "健生",
    "聖和",
    "秀峰",
    "育和",
    "成仁",
    "清和",
    "大樹",
    "翠松",
    "昭和",
    "朋友",
    "真心",
    "親和",
    "安寿",
    "寿光",
    "桐陽",
    "白樺",
    "永生",
)
_KINDS = (
    "病院",
    "病院",
    "病院",
    "記念病院",
    "総合病院",
    "中央病院",
    "リハビリテーション病院",
    "循環器病院",
    "脳神経外科病院",
    "整形外科病院",
    "精神科病院",
    "こころの病院",
    "療養病院",
    "ホスピタル",
)
_SURNAMES = (
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "山下",
    "中島",
    "石井",
    "小川",
    "前田",
    "岡田",
    "長谷川",
    "藤田",
    "後藤",
    "近藤",
    "村上",
    "遠藤",
    "青木",
    "坂本",
)
_GIVEN = (
    "花子",
    "太郎",
    "陽子",
    "健一",
    "美咲",
    "大輔",
    "由美",
    "誠",
    "直樹",
    "裕子",
    "翔太",
    "恵子",
    "拓也",
    "真理",
    "浩二",
    "明美",
    "亮",
    "智子",
    "隆",
    "香織",
    "剛",
    "愛",
    "修",
    "彩",
    "聡",
    "舞",
    "学",
    "優子",
    "渉",
    "千尋",
)

# Founder types, roughly the national shares of hospitals (医療施設調査).
_FOUNDERS = (
    ("national", 3),
    ("public", 15),
    ("social_insurance", 1),
    ("medical_corporation", 70),
    ("individual", 2),
    ("other", 9),
)
# Share of hospitals in each bed band (20-99 … 500+), by founder: public bodies run the large ones.
_BAND_WEIGHTS: dict[str, tuple[int, ...]] = {
    "national": (8, 18, 20, 22, 14, 18),
    "public": (24, 24, 14, 12, 9, 17),
    "social_insurance": (10, 30, 28, 18, 9, 5),
    "medical_corporation": (40, 38, 12, 6, 2, 2),
    "individual": (75, 22, 3, 0, 0, 0),
    "other": (22, 26, 15, 11, 8, 18),
}


def _city(rng: random.Random) -> str:
    return rng.choice(_CITY_HEADS) + rng.choice(_CITY_TAILS)


def _hospital_name(rng: random.Random, founder: str, prefecture_code: int, beds: int) -> str:
    place, kind = rng.choice(_PLACES), rng.choice(_KINDS)
    if founder == "national":
        return rng.choice((f"国立病院機構 {_city(rng)}医療センター", f"国立病院機構 {_city(rng)}病院"))
    if founder == "public":
        prefecture = PREFECTURES[prefecture_code - 1][0]
        return rng.choice(
            (
                f"{_city(rng)}市立{place}病院",
                f"{_city(rng)}市民病院",
                f"{prefecture}立{place}病院",
                f"{_city(rng)}町立病院" if beds < 200 else f"{_city(rng)}赤十字病院",
                f"{_city(rng)}厚生病院",
            )
        )
    if founder == "social_insurance":
        return rng.choice((f"{_city(rng)}社会保険病院", f"健康保険組合連合会 {_city(rng)}病院"))
    if founder == "individual":
        return rng.choice(_SURNAMES) + rng.choice(("病院", "外科病院", "内科病院", "医院"))
    if founder == "other":
        corp = rng.choice(_CORPORATE)
        return rng.choice(
            (
                f"社会福祉法人{corp}会 {place}{kind}",
                f"公益財団法人{corp}会 {place}{kind}",
                f"学校法人{corp}学園 {corp}大学附属病院" if beds >= 400 else f"一般社団法人{corp}会 {place}病院",
            )
        )
    return f"医療法人{rng.choice(_CORPORATE)}会 {place}{kind}"


def _beds(rng: random.Random, band_index: int) -> int:
    band = BED_BANDS[band_index]
    if band.high is None:  # 500+: a long tail, few above 1,000
        return min(500 + int(rng.expovariate(1 / 180)), 1400)
    # within a band, smaller counts are more common
    return band.low + int((band.high - band.low + 1) * rng.random() ** 1.4)


def generate_hospitals(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` plausible synthetic hospitals: code, name, prefecture_code, bed_count, founder_type, email.

    Codes are 2-digit prefecture + ``1`` (医科) + 7 digits (never ``99999xx``, kept for the fixed
    demo accounts); names are unique.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, not security  # nosec B311
    founders, founder_weights = zip(*_FOUNDERS, strict=True)
    prefectures = range(1, len(PREFECTURES) + 1)
    codes: set[str] = set()
    names: set[str] = set()
    hospitals: list[dict[str, Any]] = []
    while len(hospitals) < n:
        prefecture = rng.choices(prefectures, weights=_POPULATION)[0]
        code = f"{prefecture:02d}1{rng.randrange(0, 9_999_900):07d}"
        if code in codes:
            continue
        founder = rng.choices(founders, weights=founder_weights)[0]
        beds = _beds(rng, rng.choices(range(len(BED_BANDS)), weights=_BAND_WEIGHTS[founder])[0])
        name = _hospital_name(rng, founder, prefecture, beds)
        for _attempt in range(20):
            if name not in names:
                break
            name = _hospital_name(rng, founder, prefecture, beds)
        else:
            name = f"{name}（{_city(rng)}分院）"
            if name in names:
                continue
        codes.add(code)
        names.add(name)
        hospitals.append(
            {
                "code": code,
                "name": name,
                "prefecture_code": prefecture,
                "bed_count": beds,
                "founder_type": founder,
                "email": f"info-{code}@example.jp",
            }
        )
    return hospitals


# --- answers ----------------------------------------------------------------------------------------

# P(yes) by bed band (20-99, 100-199, 200-299, 300-399, 400-499, 500+), after the published figures:
# CISO 65 % → 96 %; BCP 25 % → 44 %; BCP exercised 34 % → 49 % of those with a BCP; network known
# 92 %; vulnerability information 82 %; two-factor 11 %; offline backup 49 %. Unpublished items are
# plausible guesses that rise with size, as the ministry reports for almost every item.
_YES: dict[str, tuple[float, ...]] = {
    "q2_1": (0.65, 0.70, 0.84, 0.90, 0.95, 0.96),
    "q2_2": (0.22, 0.28, 0.36, 0.45, 0.52, 0.60),
    "q4": (0.20, 0.24, 0.30, 0.36, 0.42, 0.50),
    "q5": (0.12, 0.18, 0.28, 0.38, 0.48, 0.62),
    "q6": (0.15, 0.20, 0.26, 0.32, 0.38, 0.45),
    "q7_1": (0.25, 0.26, 0.30, 0.35, 0.40, 0.44),
    "q7_2": (0.33, 0.33, 0.36, 0.40, 0.45, 0.49),
    "q8": (0.70, 0.78, 0.85, 0.90, 0.92, 0.95),
    "q9": (0.89, 0.92, 0.95, 0.96, 0.97, 0.98),
    "q10": (0.76, 0.82, 0.88, 0.91, 0.93, 0.95),
    "q11": (0.55, 0.62, 0.70, 0.75, 0.80, 0.85),
    "q12": (0.50, 0.58, 0.66, 0.72, 0.77, 0.82),
    "q14": (0.08, 0.10, 0.12, 0.15, 0.18, 0.22),
    "q15": (0.60, 0.68, 0.76, 0.82, 0.86, 0.90),
    "q16": (0.40, 0.48, 0.56, 0.62, 0.68, 0.75),
    "q17_1": (0.45, 0.65, 0.82, 0.90, 0.95, 0.98),
    "q17_2": (0.97, 0.98, 0.98, 0.99, 0.99, 0.99),
    "q17_6": (0.44, 0.48, 0.53, 0.57, 0.60, 0.63),
}
# Weights over a select_one's choices in list order, for the smallest and the largest band;
# bands in between are interpolated.
_CHOICE_WEIGHTS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "q3": ((30, 34, 18, 12, 5, 1), (0, 2, 6, 22, 40, 30)),  # staff of the IT department
    "q17_3": ((40, 38, 15, 7), (15, 35, 30, 20)),  # backup copies
    "q17_4": ((55, 35, 10), (25, 50, 25)),  # backup methods
    "q17_5": ((25, 30, 25, 13, 7), (17, 23, 27, 20, 13)),  # generations: about 78 % keep ≥ 2
}
# IPA qualifications a CISO holds, with how common each is.
_EXAMS = (
    ("fundamental_it_engineer", 30),
    ("applied_it_engineer", 18),
    ("it_passport", 25),
    ("info_security_management", 14),
    ("riss_registered", 4),
    ("riss_exam", 3),
    ("network_specialist", 4),
    ("database_specialist", 3),
    ("project_manager", 3),
    ("it_service_manager", 2),
    ("systems_auditor", 1),
    ("it_strategist", 1),
    ("system_architect", 1),
    ("embedded_specialist", 1),
    ("other", 22),
)
_OTHER_QUALIFICATIONS = (
    "医療情報技師",
    "上級医療情報技師",
    "診療情報管理士",
    "医療情報セキュリティ技術者",
    "情報セキュリティ関連の民間資格",
)
# Minimum password length (Q13): most rules say 8; some 4–6; a growing few follow the 13+ guidance.
_PASSWORD_LENGTHS = (
    (4, 4),
    (5, 2),
    (6, 10),
    (7, 2),
    (8, 52),
    (9, 2),
    (10, 9),
    (12, 5),
    (13, 8),
    (14, 2),
    (15, 2),
    (16, 2),
)


def band_index(beds: int | None) -> int:
    """0 for 20–99 beds … 5 for 500+ (unknown counts as the smallest band)."""
    band = bed_band(beds)
    return 0 if band is None else BED_BANDS.index(band)


def _interpolated(weights: tuple[tuple[float, ...], tuple[float, ...]], band: int) -> list[float]:
    small, large = weights
    share = band / (len(BED_BANDS) - 1)
    return [a + (b - a) * share for a, b in zip(small, large, strict=True)]


def respondent_name(rng: random.Random) -> str:
    return f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}"


def _answer(
    defn: SurveyDefinition, question: Question, hospital: dict[str, Any], band: int, rng: random.Random
) -> str | list[str] | None:
    name = question.name
    if name == "q1_1":
        return respondent_name(rng)
    if name == "q1_2":
        return str(hospital["name"])
    if name == "q13":
        lengths, weights = zip(*_PASSWORD_LENGTHS, strict=True)
        return str(rng.choices(lengths, weights=weights)[0] + (1 if band >= 4 and rng.random() < 0.1 else 0))
    if name == "q2_3":
        exams, weights = zip(*_EXAMS, strict=True)
        picked = {rng.choices(exams, weights=weights)[0] for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))}
        return [choice.name for choice in defn.choices_for(question) if choice.name in picked]
    if name == "q2_3_other":
        return rng.choice(_OTHER_QUALIFICATIONS) if rng.random() < 0.7 else None
    choices = [choice.name for choice in defn.choices_for(question)]
    if question.type == QuestionType.YES_NO:
        return "yes" if rng.random() < _YES.get(name, (0.5,) * len(BED_BANDS))[band] else "no"
    if question.type == QuestionType.SELECT_ONE:
        ends = _CHOICE_WEIGHTS.get(name)
        if ends is not None and len(ends[0]) == len(choices):
            return rng.choices(choices, weights=_interpolated(ends, band))[0]
        return rng.choice(choices)
    if question.type == QuestionType.SELECT_MULTIPLE:
        return rng.sample(choices, k=rng.randint(1, min(2, len(choices))))
    if question.type in (QuestionType.INTEGER, QuestionType.DECIMAL):  # questions added to the survey later
        low = int(question.minimum) if question.minimum is not None else 0
        high = int(question.maximum) if question.maximum is not None else low + 10
        return str(rng.randint(low, max(low, min(high, low + 10))))
    if question.type == QuestionType.TEXT:
        return "特になし" if question.required else None
    return None


def plausible_answers(defn: SurveyDefinition, hospital: dict[str, Any], rng: random.Random) -> Answers:
    """A complete, valid set of answers for ``hospital`` (``name``, ``bed_count``), by its bed band.

    Only relevant questions are answered: every question gets a draw, then ``prune`` drops the ones
    that do not apply (so, for example, Q7-2 follows "yes" to Q7-1 at the published conditional rate).
    """
    band = band_index(hospital.get("bed_count"))
    answers: Answers = {}
    for question in defn.questions():
        if not question.answerable:
            continue
        value = _answer(defn, question, hospital, band, rng)
        if value:
            answers[question.name] = value
    return prune(defn, answers)


def partial_answers(defn: SurveyDefinition, hospital: dict[str, Any], rng: random.Random) -> Answers:
    """A draft: the answers of the first part of the questionnaire (20–80 % of its questions)."""
    full = plausible_answers(defn, hospital, rng)
    names = [question.name for question in defn.questions() if question.answerable]
    keep = set(names[: max(1, int(len(names) * rng.uniform(0.2, 0.8)))])
    return prune(defn, {name: value for name, value in full.items() if name in keep})


# --- loading ---------------------------------------------------------------------------------------


def demo_logins() -> list[tuple[str, str]]:
    """(who, login ID) of the documented demo accounts, for the CLI to print with ``DEMO_PASSWORD``."""
    return [
        ("ministry administrator / 厚生労働省 調査事務局", ADMIN_LOGIN),
        *(
            (
                f"hospital, {'not started / 未回答' if h.status == 'not_started' else 'draft / 一時保存中'}: {h.name}",
                h.login,
            )
            for h in FIXED_HOSPITALS
        ),
        ("any other synthetic hospital / その他の病院", "h + 医療機関コード (institution code)"),
    ]


def has_demo(db: Session) -> bool:
    """Whether the demo has been loaded into this database (its fixed demo account exists)."""
    login = FIXED_HOSPITALS[0].login
    return db.scalar(select(func.count()).select_from(User).where(User.login_id == login)) == 1


def _moment(rng: random.Random, first: date, last: date) -> datetime:
    """A random office-hours moment (09:00–18:00 JST) on a day from ``first`` to ``last``."""
    day = first + timedelta(days=rng.randrange(max(1, (last - first).days + 1)))
    local = datetime.combine(day, time(9), tzinfo=JST) + timedelta(seconds=rng.randrange(9 * 3600))
    return local.astimezone(UTC)


def _chunked(rows: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    return [rows[start : start + _CHUNK] for start in range(0, len(rows), _CHUNK)]


def load_demo(
    db: Session,
    *,
    hospitals: int = 8000,
    seed: int = 2024,
    today: date,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoSummary:
    """Fill an empty database with the demo: ministry, ``hospitals`` hospitals, the open FY2024 survey.

    ``hospitals`` counts the two fixed demo hospitals. About 55 % of the others have submitted and
    12 % hold a draft. Only flushes: the caller commits. Raises ``Conflict`` if data already exists.
    """
    if hospitals < len(FIXED_HOSPITALS):
        raise ValueError(f"the demo needs at least {len(FIXED_HOSPITALS)} hospitals")
    if db.scalar(select(func.count()).select_from(Organisation)) or db.scalar(select(func.count()).select_from(Survey)):
        raise Conflict.of("DH-G409")
    report = progress or (lambda _stage, _done, _total: None)
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, not security  # nosec B311
    # Demo only: argon2 costs ~50 ms per hash, so 8,000 hashes would take minutes. Every demo account
    # shares this one hash of the documented demo password; real accounts are activated one by one.
    password_hash = hash_password(DEMO_PASSWORD)

    ministry_id = db.execute(
        insert(Organisation).returning(Organisation.id),
        [
            {
                "kind": OrgKind.MINISTRY.value,
                "code": "MHLW",
                "name": "厚生労働省",
                "prefecture_code": None,
                "bed_count": None,
                "founder_type": None,
                "email": None,
            }
        ],
    ).scalar_one()
    db.execute(
        insert(User),
        [
            {
                "login_id": ADMIN_LOGIN,
                "display_name": "厚生労働省 調査事務局",
                "role": Role.ADMIN.value,
                "organisation_id": ministry_id,
                "password_hash": password_hash,
            }
        ],
    )

    generated = generate_hospitals(hospitals - len(FIXED_HOSPITALS), seed)
    fixed = [
        {
            "code": h.code,
            "name": h.name,
            "prefecture_code": h.prefecture_code,
            "bed_count": h.bed_count,
            "founder_type": h.founder_type,
            "email": None,
        }
        for h in FIXED_HOSPITALS
    ]
    everyone = fixed + generated
    org_ids: dict[str, int] = {}
    for batch in _chunked(everyone):
        result = db.execute(
            insert(Organisation).returning(Organisation.id, Organisation.code),
            [{"kind": OrgKind.HOSPITAL.value, **row} for row in batch],
        )
        org_ids.update({code: org_id for org_id, code in result})
        report("hospitals", len(org_ids), len(everyone))

    logins = {h.code: h.login for h in FIXED_HOSPITALS}
    user_ids: dict[int, int] = {}
    user_rows = [
        {
            "login_id": logins.get(row["code"], "h" + row["code"]),
            "display_name": row["name"],
            "role": Role.HOSPITAL.value,
            "organisation_id": org_ids[row["code"]],
            "password_hash": password_hash,
        }
        for row in everyone
    ]
    for batch in _chunked(user_rows):
        created = db.execute(insert(User).returning(User.id, User.organisation_id), batch)
        user_ids.update({org_id: user_id for user_id, org_id in created})
        report("accounts", len(user_ids), len(user_rows))

    defn = load_bundled(SURVEY_ID)
    opens, closes = today - timedelta(days=20), today + timedelta(days=22)
    survey = create_survey(db, defn, opens, closes)
    set_status(db, survey, SurveyStatus.OPEN)
    target_all_hospitals(db, survey)  # a no-op where opening already targets every hospital

    submitted, drafts = _load_responses(db, survey, defn, everyone, org_ids, user_ids, rng, today, report)
    from datahealth.demo_history import load_previous_year  # imports this module: import here, not at the top

    load_previous_year(db, survey, seed=seed, progress=report)  # the previous year's survey, for year-over-year
    db.flush()
    sample = next((login for login in (("h" + row["code"]) for row in generated) if login in submitted), None)
    return DemoSummary(
        hospitals=len(everyone),
        submitted=len(submitted),
        drafts=drafts,
        survey_id=survey.id,
        admin_login=ADMIN_LOGIN,
        hospital_logins=[h.login for h in FIXED_HOSPITALS] + ([sample] if sample else []),
        password=DEMO_PASSWORD,
    )


def _load_responses(
    db: Session,
    survey: Survey,
    defn: SurveyDefinition,
    everyone: list[dict[str, Any]],
    org_ids: dict[str, int],
    user_ids: dict[int, int],
    rng: random.Random,
    today: date,
    report: Callable[[str, int, int], None],
) -> tuple[set[str], int]:
    """Insert the responses; returns the logins of the submitted hospitals and the number of drafts."""
    fixed_status = {h.code: h.status for h in FIXED_HOSPITALS}
    last_day = max(survey.opens_on, today - timedelta(days=1))
    rows: list[dict[str, Any]] = []
    submitted_logins: set[str] = set()
    drafts = 0
    for hospital in everyone:
        draw = rng.random()
        status = fixed_status.get(hospital["code"]) or (
            "submitted"
            if draw < SUBMITTED_SHARE
            else "draft"
            if draw < SUBMITTED_SHARE + DRAFT_SHARE
            else "not_started"
        )
        if status == "not_started":
            continue
        org_id = org_ids[hospital["code"]]
        user_id = user_ids[org_id]
        saved = _moment(rng, survey.opens_on, last_day)
        created = saved - timedelta(days=rng.randint(0, 6), minutes=rng.randint(5, 600))
        row: dict[str, Any] = {
            "survey_id": survey.id,
            "organisation_id": org_id,
            "created_at": max(created, datetime.combine(survey.opens_on, time(9), tzinfo=JST)),
            "updated_at": saved,
            "updated_by": user_id,
            "revision": rng.randint(1, 6),
        }
        if status == "submitted":
            row.update(
                status=ResponseStatus.SUBMITTED.value,
                answers=plausible_answers(defn, hospital, rng),
                submitted_at=saved,
                submitted_by=user_id,
            )
            submitted_logins.add("h" + hospital["code"])
        else:
            row.update(
                status=ResponseStatus.DRAFT.value,
                answers=partial_answers(defn, hospital, rng),
                submitted_at=None,
                submitted_by=None,
            )
            drafts += 1
        rows.append(row)

    done = 0
    for batch in _chunked(rows):
        result = db.execute(
            insert(Response).returning(Response.id, Response.status, Response.submitted_at, Response.submitted_by),
            batch,
        )
        receipts, events = [], []
        for response_id, status, submitted_at, submitted_by in result:
            if status != ResponseStatus.SUBMITTED:
                continue
            receipts.append(
                {
                    "id": response_id,
                    "receipt_code": (f"{survey.survey_key.upper()}-{response_id:06d}-{secrets.token_hex(3).upper()}"),
                }
            )
            events.append(
                {
                    "response_id": response_id,
                    "kind": "submitted",
                    "at": submitted_at,
                    "user_id": submitted_by,
                    "note": "",
                }
            )
        if receipts:
            db.execute(update(Response), receipts)
            db.execute(insert(ResponseEvent), events)
        done += len(batch)
        report("responses", done, len(rows))
    return submitted_logins, drafts


def enrol_demo_two_factor(db: Session, settings: Settings, now: datetime) -> list[str]:
    """Enrol the demo accounts whose role requires two factors with the published demo secret."""
    from datahealth.auth import totp
    from datahealth.auth.service import TWO_FACTOR_REQUIRED

    users = db.scalars(
        select(User).where(User.role.in_([role.value for role in TWO_FACTOR_REQUIRED]), User.totp_enabled_at.is_(None))
    ).all()
    for user in users:
        totp.enrol(settings, user, DEMO_TOTP_SECRET, now)
    return [user.login_id for user in users]
