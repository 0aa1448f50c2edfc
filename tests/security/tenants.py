"""A multi-tenant world for the security tests: two hospitals, two consortia, a researcher, an insurer.

Every tenant's data carries marker strings that must never appear in a response to someone outside
that tenant. Sessions are started directly through the auth service (the login flow itself is
tested in tests/web), so one world serves hundreds of requests quickly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import factories as f
from datahealth.auth.passwords import token_digest
from datahealth.auth.service import start_session
from datahealth.auth.tables import Organisation, OrgKind, Role, User, WebSession
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory
from datahealth.exchange import consortia
from datahealth.exchange.service import Sender, Upload, ingest
from datahealth.exchange.tables import ApiToken, table_for
from datahealth.exchange.tokens import ALL_CONSORTIA, create_token
from datahealth.operations import extensions, inquiries, notices, outbox
from datahealth.operations.tables import Inquiry, Notice
from datahealth.survey import service
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Survey, SurveyStatus, SurveyTarget
from datahealth.web.app import create_app

NOW = datetime(2025, 2, 3, 3, tzinfo=UTC)
REGISTERED = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "consortium_id,participant_id,observation_time,step,walk_time,model_manufacturer_code,model_number,"
    "production_specification_serial,total_active_duration,data_input_code,measurement_position_code,"
    "origin_of_time_code,update_time"
)


def activity_csv(*rows: tuple[str, str, str], serial: str = "SN1") -> bytes:
    """Activity records (consortium, participant, yyyymmdd); a step count of 999999 is flagged."""
    lines = [
        f"{cid},{pid},{day}000000,8000,60,M01,AM-100,{serial},1440,0,30,0,20250131120000000" for cid, pid, day in rows
    ]
    return ("\n".join((COLUMNS, *lines)) + "\n").encode("utf-8-sig")


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@dataclass
class Tenants:
    settings: Settings
    sessions: sessionmaker[Session]
    app: FastAPI
    ids: dict[str, int | str] = field(default_factory=dict)
    """Object ids by name: survey_open, survey_b, survey_draft, response_a, response_b, batch_a, ..."""
    markers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Tenant → strings that only that tenant (and the administrator) may ever see."""
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    bearer: dict[str, str] = field(default_factory=dict)
    section: str = ""

    def client(self, who: str) -> TestClient:
        """A client for a login (session cookie + CSRF header), an API token (``token-…``) or ``anonymous``."""
        client = TestClient(
            self.app, base_url="http://testserver", follow_redirects=False, raise_server_exceptions=False
        )
        if who in self.cookies:
            client.cookies.set("dh_session", self.cookies[who])
            client.headers["x-csrf-token"] = self.csrf[who]
        if who in self.bearer:
            client.headers["authorization"] = f"Bearer {self.bearer[who]}"
        return client


def build(tmp: Path, template: Path | None, *, hostile: str = "", database_url: str | None = None) -> Tenants:
    """The world on a fresh SQLite copy of the migrated template (or on an empty migrated PostgreSQL
    database at ``database_url``). ``hostile`` is appended to every free text a user can enter (names,
    answers, token names), for the XSS sweep."""
    data_dir = tmp / "data"
    data_dir.mkdir()
    if database_url is None:
        assert template is not None
        shutil.copy(template, data_dir / "datahealth.sqlite3")
    settings = Settings(
        data_dir=data_dir, environment="test", secret_key=SecretStr(f.SECRET_KEY), database_url=database_url or ""
    )
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    world = Tenants(settings, sessions, create_app(settings, clock=FixedClock(NOW)))
    h = hostile
    world.markers = {
        "hospA": ("Alpha-Hospital-MK", "ANSWER-MARKER-A"),
        "hospB": ("Beta-Hospital-MK", "ANSWER-MARKER-B", "2711111111"),
        "consA": ("Consortium-Alpha-MK",),
        "consB": ("Consortium-Beta-MK",),
        # Record level: participant IDs, stored values, submitted values in issue rows. Researchers and
        # read-all tokens read every consortium, but only aggregates: they must never see these.
        "consA-records": ("PA0001", "SERIAL-A-MK", "2025011000000"),
        "consB-records": ("QB0001", "SERIAL-B-MK", "2025012000000"),
        "consA-admin": ("token-alpha-MK",),
        "consB-admin": ("token-beta-MK",),
        "research": ("token-research-MK",),
        "insurer": ("Insurer-Gamma-MK",),
    }
    # survey operations: notices, inquiries (and an answer), deadline extensions, queued e-mails
    world.markers["hospA"] += ("NOTICE-MARKER-A", "INQUIRY-MARKER-A", "MAIL-MARKER-A")
    world.markers["hospB"] += (
        "NOTICE-MARKER-B",
        "INQUIRY-MARKER-B",
        "INQUIRY-ANSWER-MARKER-B",
        "EXTENSION-MARKER-B",
        "MAIL-MARKER-B",
    )
    with sessions.begin() as db:
        a = f.make_org(db, code="1311111111", name="Alpha-Hospital-MK" + h, prefecture_code=13, bed_count=120)
        b = f.make_org(db, code="2711111111", name="Beta-Hospital-MK" + h, prefecture_code=27, bed_count=550)
        users = {
            "hosp-a": f.make_user(db, a, "hosp-a"),
            "hosp-b": f.make_user(db, b, "hosp-b"),
            "admin": f.make_admin(db, "admin"),
        }
        ministry = users["admin"].organisation
        users["res"] = f.make_user(db, ministry, "res", role=Role.RESEARCHER)
        insurer = f.make_org(
            db,
            code="06130011",
            name="Insurer-Gamma-MK" + h,
            kind=OrgKind.INSURER,
            prefecture_code=None,
            bed_count=None,
            founder_type=None,
        )
        users["ins"] = f.make_user(db, insurer, "ins", role=Role.INSURER)
        defn = load_bundled("cyber-fy2024")
        world.section = defn.sections[0].name
        open_survey = f.make_open_survey(db, defn)
        b_only = service.create_survey(
            db, defn.model_copy(update={"version": "b-only"}), date(2025, 1, 27), date(2025, 3, 7)
        )
        service.set_status(db, b_only, SurveyStatus.OPEN)
        service.target_all_hospitals(db, b_only)
        db.flush()
        db.execute(
            delete(SurveyTarget).where(SurveyTarget.survey_id == b_only.id, SurveyTarget.organisation_id == a.id)
        )
        draft = service.create_survey(
            db, defn.model_copy(update={"version": "draft"}), date(2025, 1, 27), date(2025, 3, 7)
        )
        service.target_all_hospitals(db, draft)
        db.flush()
        world.ids.update(
            survey_open=open_survey.id,
            survey_b=b_only.id,
            survey_draft=draft.id,
            hospital_a=a.id,
            hospital_b=b.id,
            insurer=insurer.id,
        )
        for login, marker, survey in (
            ("hosp-a", "ANSWER-MARKER-A", open_survey),
            ("hosp-b", "ANSWER-MARKER-B", open_survey),
        ):
            who = f.principal(users[login])
            response = service.own_response(db, who, survey)
            answers = f.complete_answers(marker + h)
            answers["q1_1"] = marker + h
            service.save_draft(db, who, survey, response, answers, list(answers), NOW)
            world.ids[f"response_{login[-1]}"] = response.id
        con_a = consortia.create_consortium(db, "CONSA", "Consortium-Alpha-MK" + h)
        con_b = consortia.create_consortium(db, "CONSB", "Consortium-Beta-MK" + h)
        users["op-a"] = f.make_user(db, con_a, "op-a", role=Role.CONSORTIUM)
        users["op-b"] = f.make_user(db, con_b, "op-b", role=Role.CONSORTIUM)
        world.ids.update(consortium_org_a=con_a.id, consortium_org_b=con_b.id)
        _register_participants(db)
        _, world.bearer["token-a"] = create_token(db, "CONSA", "token-alpha-MK" + h, users["op-a"].id, NOW)
        _, world.bearer["token-b"] = create_token(db, "CONSB", "token-beta-MK" + h, users["op-b"].id, NOW)
        _, world.bearer["token-all"] = create_token(db, ALL_CONSORTIA, "token-research-MK" + h, users["res"].id, NOW)
        for cid, pid, key, bad_day in (("CONSA", "PA0001", "a", "2025011"), ("CONSB", "QB0001", "b", "2025012")):
            rows = activity_csv((cid, pid, "20250110"), (cid, pid, bad_day), serial=f"SERIAL-{key.upper()}-MK")
            result = ingest(
                db, Sender(cid, f"user:op-{key}"), [Upload(f"activity{h[:40]}.csv", rows)], channel="web", now=NOW
            )
            world.ids[f"batch_{key}"] = result.batch_id
        _operations(world, db, users, {"a": a, "b": b}, open_survey, b_only, h)
        for name, cid in (("token_a", "CONSA"), ("token_b", "CONSB"), ("token_res", ALL_CONSORTIA)):
            world.ids[name] = db.scalars(select(ApiToken.id).where(ApiToken.consortium_id == cid)).one()
        for login, user in users.items():
            token = start_session(db, user, settings, NOW)
            world.cookies[login] = token
            db.flush()
            world.csrf[login] = db.get(WebSession, token_digest(token)).csrf_token  # type: ignore[union-attr]
    return world


def _operations(
    world: Tenants,
    db: Session,
    users: dict[str, User],
    hospitals: dict[str, Organisation],
    open_survey: Survey,
    b_only: Survey,
    h: str,
) -> None:
    """Per hospital: a notice, an inquiry, a queued e-mail; hospital B's inquiry is answered and published
    as a FAQ entry of the shared survey (its texts name hospital B, so the anonymisation is tested too),
    and hospital B alone has its deadline of ``survey_b`` extended with a reason."""
    for key, org in hospitals.items():
        upper = key.upper()
        notices.add_notices(
            db,
            [
                {
                    "organisation_id": org.id,
                    "survey_id": open_survey.id,
                    "notice_key": f"security:{key}",
                    "kind": "notice",
                    "title": f"NOTICE-MARKER-{upper}{h}",
                    "body": f"NOTICE-MARKER-{upper} body{h}",
                    "link": f"/surveys/{open_survey.id}",
                }
            ],
            NOW,
        )
        world.ids[f"notice_{key}"] = db.scalars(select(Notice.id).where(Notice.notice_key == f"security:{key}")).one()
        inquiry = inquiries.create(
            db,
            f.principal(users[f"hosp-{key}"]),
            open_survey,
            question_name="q1_1",
            category="content",
            body=f"INQUIRY-MARKER-{upper} from {org.name} ({org.code}){h}",
            base_url="http://testserver",
            desk_addresses={"operation": "desk-operation@example.jp", "content": "desk-content@example.jp"},
            now=NOW,
        )
        world.ids[f"inquiry_{key}"] = inquiry.id
        outbox.enqueue(
            db,
            kind="notice",
            to_address=f"hospital-{key}@example.jp",
            subject=f"MAIL-MARKER-{upper}{h}",
            body=f"MAIL-MARKER-{upper}{h}",
            now=NOW,
            survey_id=open_survey.id,
            organisation_id=org.id,
        )
    admin = f.principal(users["admin"])
    inquiry_b = db.get(Inquiry, world.ids["inquiry_b"])
    assert inquiry_b is not None
    inquiries.answer(db, admin, inquiry_b, f"INQUIRY-ANSWER-MARKER-B{h}", base_url="http://testserver", now=NOW)
    b = hospitals["b"]
    world.ids["faq_b"] = inquiries.publish(
        db,
        admin,
        inquiry_b,
        question_text=f"FAQ question from {b.name} ({b.code}){h}",
        answer_text=f"FAQ answer for {b.name}{h}",
        now=NOW,
    ).id
    reason = f"EXTENSION-MARKER-B{h}"[:200]
    extensions.extend(db, b_only, date(2025, 3, 21), organisation_ids=[b.id], reason=reason, user_id=None, now=NOW)
    notices.announce_extension(db, b_only, date(2025, 3, 21), [b.id], reason, "http://testserver", NOW)
    world.ids["notice_extension_b"] = db.scalars(
        select(Notice.id).where(Notice.organisation_id == b.id, Notice.notice_key.like("survey:%:extended:%"))
    ).one()


def _register_participants(db: Session) -> None:
    db.execute(
        insert(table_for("device")),
        [
            {
                "model_manufacturer_code": "M01",
                "model_number": "AM-100",
                "device_name": "歩数計ワン",
                "device_category_code": "1",
                "time_correction_code": "0",
                "measured_items": "walk_time",
                "updated_at": REGISTERED,
            }
        ],
    )
    db.execute(
        insert(table_for("participant")),
        [
            {
                "consortium_id": cid,
                "participant_id": pid,
                "birth_year_month": "197507",
                "sex_code": "1",
                "participation_start_date": date(2025, 1, 1),
                "participation_end_date": None,
                "residence_prefecture_code": "27",
                "medication_code": "1",
                "updated_at": REGISTERED,
            }
            for cid, pid in (("CONSA", "PA0001"), ("CONSB", "QB0001"))
        ],
    )


@pytest.fixture(scope="module", name="tenants")
def tenants_fixture(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Tenants:
    """One world per test module (import this fixture; tests/security has no conftest.py, because
    tests/web/test_reports.py imports ``Browser`` from whichever ``conftest`` module was loaded last)."""
    return build(tmp_path_factory.mktemp("tenants"), sqlite_template)
