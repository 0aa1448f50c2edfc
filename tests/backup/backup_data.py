"""Synthetic data for backup tests: several tables, JSON, Unicode, timestamps and exact decimals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert, select

from datahealth.auth.tables import User
from datahealth.backup.contenthash import TableDigest, database_digests
from datahealth.config import Settings
from datahealth.db import make_engine, make_session_factory, transaction
from datahealth.exchange.tables import Batch, table_for
from datahealth.survey import service
from datahealth.survey.tables import Response, ResponseStatus, Survey
from factories import at, complete_answers, make_world, principal

BATCH_ID = "0b6f1f0e-6c1e-4a53-9d55-000000000001"
WEIGHTS = [Decimal("65.5"), Decimal("102.0"), Decimal("0.1")]


@dataclass(frozen=True)
class Filled:
    survey_id: int
    hospital_a: int
    hospital_b: int
    receipt: str


def fill(settings: Settings) -> Filled:
    """make_world, a submitted and a draft response (JSON answers in Japanese), an exchange batch of weights."""
    engine = make_engine(settings)
    try:
        with transaction(make_session_factory(engine)) as db:
            world = make_world(db)
            survey = db.get_one(Survey, world.survey_id)
            user_a = db.scalars(select(User).where(User.login_id == "hosp-a")).one()
            user_b = db.scalars(select(User).where(User.login_id == "hosp-b")).one()
            now = at(2025, 2, 3)
            who_a = principal(user_a)
            response_a = service.own_response(db, who_a, survey)
            answers = complete_answers("東京テスト病院 🏥「本院」")
            service.save_draft(db, who_a, survey, response_a, answers, list(answers), now)
            db.flush()
            receipt = service.submit(db, who_a, survey, response_a, now)
            who_b = principal(user_b)
            response_b = service.own_response(db, who_b, survey)
            draft = {"q1_1": "大阪 花子", "q2_1": "no"}
            service.save_draft(db, who_b, survey, response_b, draft, list(draft), now)
            db.add(
                Batch(
                    id=BATCH_ID,
                    consortium_id="C0001",
                    received_at=at(2025, 2, 4, 5),
                    channel="cli",
                    wire_format="csv",
                    sources=["weight.csv", "体重.csv"],
                    strict=False,
                    status="accepted",
                    counts={"weight": {"received": 3, "stored": 3}},
                    submitted_by="user:admin",
                )
            )
            db.flush()
            weight = table_for("weight")
            for index, value in enumerate(WEIGHTS):
                db.execute(
                    insert(weight).values(
                        consortium_id="C0001",
                        participant_id=f"P{index:05d}",
                        observation_time=datetime(2025, 2, 1, 7, 30, index),
                        body_weight=value,
                        model_manufacturer_code="MAKER",
                        model_number="W-100",
                        production_specification_serial=f"SN{index}",
                        data_input_code="1",
                        origin_of_time_code="1",
                        update_time=datetime(2025, 2, 1, 8, 0, index),
                        flags="",
                        batch_id=BATCH_ID,
                        stored_at=at(2025, 2, 4, 5),
                    )
                )
            return Filled(world.survey_id, world.hospital_a, world.hospital_b, receipt)
    finally:
        engine.dispose()


def digests(settings: Settings) -> dict[str, TableDigest]:
    engine = make_engine(settings)
    try:
        return digests_of(engine)
    finally:
        engine.dispose()


def digests_of(engine: Engine) -> dict[str, TableDigest]:
    with engine.connect() as connection, connection.begin():
        return database_digests(connection)


def damage(settings: Settings, filled: Filled) -> None:
    """What a bad day does: a deleted response, an altered answer, a removed weight."""
    engine = make_engine(settings)
    try:
        with transaction(make_session_factory(engine)) as db:
            draft = db.scalars(select(Response).where(Response.organisation_id == filled.hospital_b)).one()
            db.delete(draft)
            submitted = db.scalars(select(Response).where(Response.status == ResponseStatus.SUBMITTED)).one()
            submitted.answers = {**submitted.answers, "q1_1": "書き換え"}
            db.execute(table_for("weight").delete().where(table_for("weight").c.participant_id == "P00001"))
    finally:
        engine.dispose()


def read_back(settings: Settings) -> tuple[dict[str, object], list[Decimal], date]:
    """The submitted answers, the weights and the survey's opening day as the application reads them."""
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as db:
            submitted = db.scalars(select(Response).where(Response.status == ResponseStatus.SUBMITTED)).one()
            weight = table_for("weight")
            weights = list(db.scalars(select(weight.c.body_weight).order_by(weight.c.participant_id)))
            opens = db.scalars(select(Survey.opens_on)).one()
            return dict(submitted.answers), weights, opens
    finally:
        engine.dispose()
