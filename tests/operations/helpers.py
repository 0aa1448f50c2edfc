"""Shared set-up for the operations tests: the two-hospital world with e-mail addresses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from datahealth.auth.tables import Organisation, User
from datahealth.survey.tables import Response, ResponseStatus

ADDRESS_A = "it@tokyo-test.example"
ADDRESS_B = "jimu@osaka-test.example"


def world_with_addresses(factory: sessionmaker[Session]) -> f.World:
    with factory.begin() as db:
        world = f.make_world(db)
        db.get_one(Organisation, world.hospital_a).email = ADDRESS_A
        db.get_one(Organisation, world.hospital_b).email = ADDRESS_B
    return world


def principal_of(db: Session, login_id: str) -> object:
    user = db.scalars(select(User).where(User.login_id == login_id)).one()
    return f.principal(user)


def mark_submitted(db: Session, survey_id: int, organisation_id: int) -> None:
    db.add(
        Response(
            survey_id=survey_id,
            organisation_id=organisation_id,
            status=ResponseStatus.SUBMITTED,
            answers={},
            receipt_code=f"TEST-{organisation_id}",
        )
    )
    db.flush()
