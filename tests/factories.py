"""Plain factory functions for tests (synthetic data only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import SecretStr
from sqlalchemy.orm import Session

from datahealth.auth.passwords import hash_password
from datahealth.auth.service import Principal
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.config import Settings
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.service import create_survey, set_status, target_all_hospitals
from datahealth.survey.tables import Survey, SurveyStatus

PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-secret-key-not-for-production-0123456789"
"""The settings' secret key in every test (tests/conftest.py), so factories can encrypt TOTP secrets."""
KEY_SETTINGS = Settings(secret_key=SecretStr(SECRET_KEY))
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
"""Administrators and consortium operators made here are enrolled in two-factor login with this secret."""
_HASH_CACHE: dict[str, str] = {}


def password_hash(password: str = PASSWORD) -> str:
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


def make_org(
    db: Session,
    code: str = "1311234567",
    name: str = "テスト病院",
    kind: OrgKind = OrgKind.HOSPITAL,
    prefecture_code: int | None = 13,
    bed_count: int | None = 120,
    founder_type: str | None = "medical_corporation",
) -> Organisation:
    org = Organisation(
        kind=kind, code=code, name=name, prefecture_code=prefecture_code, bed_count=bed_count, founder_type=founder_type
    )
    db.add(org)
    db.flush()
    return org


def make_user(
    db: Session,
    org: Organisation,
    login_id: str,
    role: Role = Role.HOSPITAL,
    password: str = PASSWORD,
    two_factor: bool | None = None,
) -> User:
    """A user; administrators and consortium operators come enrolled in two-factor login (TOTP_SECRET)."""
    user = User(
        login_id=login_id,
        display_name=f"{org.name} 担当者",
        role=role,
        organisation_id=org.id,
        password_hash=password_hash(password),
    )
    if two_factor if two_factor is not None else role in (Role.ADMIN, Role.CONSORTIUM):
        enrol(user)
    db.add(user)
    db.flush()
    return user


def make_admin(db: Session, login_id: str = "admin") -> User:
    ministry = make_org(
        db,
        code="MHLW",
        name="厚生労働省",
        kind=OrgKind.MINISTRY,
        prefecture_code=None,
        bed_count=None,
        founder_type=None,
    )
    return make_user(db, ministry, login_id, role=Role.ADMIN)


def principal(user: User, csrf: str = "csrf") -> Principal:
    return Principal(
        user_id=user.id,
        login_id=user.login_id,
        display_name=user.display_name,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        organisation_name=user.organisation.name,
        csrf_token=csrf,
        locale=user.locale,
    )


def make_open_survey(
    db: Session,
    defn: SurveyDefinition,
    opens: date = date(2025, 1, 27),
    closes: date = date(2025, 3, 7),
    status: SurveyStatus = SurveyStatus.OPEN,
) -> Survey:
    survey = create_survey(db, defn, opens, closes)
    set_status(db, survey, status)
    target_all_hospitals(db, survey)
    db.flush()
    return survey


def at(year: int, month: int, day: int, hour: int = 3) -> datetime:
    """An aware UTC moment (03:00 UTC is noon in Japan)."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def complete_answers(hospital_name: str = "テスト病院") -> dict[str, str | list[str]]:
    """A complete, valid FY2024 response taking the "yes" side of every branch."""
    return {
        "q1_1": "山田 太郎",
        "q1_2": hospital_name,
        "q2_1": "yes",
        "q2_2": "yes",
        "q2_3": ["riss_exam", "other"],
        "q2_3_other": "医療情報技師",
        "q3": "s3_4",
        "q4": "yes",
        "q5": "yes",
        "q6": "no",
        "q7_1": "yes",
        "q7_2": "no",
        "q8": "yes",
        "q9": "yes",
        "q10": "yes",
        "q11": "no",
        "q12": "yes",
        "q13": "13",
        "q14": "no",
        "q15": "yes",
        "q16": "yes",
        "q17_1": "yes",
        "q17_2": "yes",
        "q17_3": "c3",
        "q17_4": "m2",
        "q17_5": "g4_6",
        "q17_6": "yes",
    }


@dataclass
class World:
    """Two hospitals (Tokyo 120 beds, Osaka 550 beds), an administrator, the FY2024 survey open."""

    survey_id: int
    hospital_a: int
    hospital_b: int


def make_world(db: Session) -> World:
    a = make_org(db, code="1311111111", name="東京テスト病院", prefecture_code=13, bed_count=120)
    b = make_org(db, code="2711111111", name="大阪テスト病院", prefecture_code=27, bed_count=550)
    make_user(db, a, "hosp-a")
    make_user(db, b, "hosp-b")
    make_admin(db, "admin")
    survey = make_open_survey(db, load_bundled("cyber-fy2024"))
    return World(survey.id, a.id, b.id)


def response_id(db: Session, organisation_id: int) -> int:
    from sqlalchemy import select

    from datahealth.survey.tables import Response

    found = db.scalar(select(Response.id).where(Response.organisation_id == organisation_id))
    assert found is not None
    return found


def enrol(user: User, secret: str = TOTP_SECRET) -> None:
    """Turn on two-factor login for a user (encrypted with the test settings' key; see ``test_settings_key``)."""
    from datahealth.auth import totp

    user.totp_secret = totp.encrypt_secret(KEY_SETTINGS, secret)
    user.totp_enabled_at = datetime(2025, 1, 1, tzinfo=UTC)
