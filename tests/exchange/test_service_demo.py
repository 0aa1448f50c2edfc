"""The exchange demo: consortia, accounts that log in, and batches sent through the real ingest path."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import verify_password
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.demo import DEMO_PASSWORD, load_demo
from datahealth.exchange.demo import CONSORTIA, RESEARCHER_LOGIN, exchange_demo_logins, load_exchange_demo
from datahealth.exchange.tables import Batch, BatchIssue, RecordHistory, table_for

TODAY = date(2025, 3, 10)


def test_exchange_demo(db: Session) -> None:
    load_demo(db, hospitals=5, seed=1, today=TODAY)
    stages: list[str] = []
    summary = load_exchange_demo(
        db, today=TODAY, seed=3, days=21, participants=6, progress=lambda stage, done, total: stages.append(stage)
    )
    db.commit()
    assert summary.consortia == ["DEMO1", "DEMO2", "DEMO3"] and stages

    consortia = db.execute(
        select(Organisation.code, Organisation.name).where(Organisation.kind == OrgKind.CONSORTIUM).order_by("code")
    ).all()
    assert [tuple(row) for row in consortia] == list(CONSORTIA)
    for number, (code, _name) in enumerate(CONSORTIA, start=1):
        user = _logs_in(db, f"demo-consortium{number}")
        assert user.role == Role.CONSORTIUM and user.organisation.code == code
    researcher = _logs_in(db, RESEARCHER_LOGIN)
    assert researcher.role == Role.RESEARCHER and researcher.organisation.kind == OrgKind.MINISTRY
    assert [login for _who, login in exchange_demo_logins()] == [
        "demo-consortium1",
        "demo-consortium2",
        "demo-consortium3",
        "demo-researcher",
    ]

    batches = db.scalars(select(Batch).order_by(Batch.received_at)).all()
    assert len(batches) == summary.batches
    assert batches[0].consortium_id == "" and batches[0].status == "accepted"  # the secretariat's registries
    by_consortium = {code: [b for b in batches if b.consortium_id == code] for code, _ in CONSORTIA}
    assert len(by_consortium["DEMO1"]) == 3  # three weekly sends
    assert any(b.status == "partial" for b in by_consortium["DEMO1"])  # the planted problems
    assert all(b.status == "accepted" for b in by_consortium["DEMO2"] + by_consortium["DEMO3"])
    assert {b.wire_format for b in by_consortium["DEMO3"]} == {"json"}
    errors = db.scalar(
        select(func.count())
        .select_from(BatchIssue)
        .join(Batch, Batch.id == BatchIssue.batch_id)
        .where(Batch.consortium_id == "DEMO1", BatchIssue.severity == "error")
    )
    assert errors == 14
    history = db.scalars(select(RecordHistory)).one()  # DEMO2's correction
    assert history.consortium_id == "DEMO2" and history.record_type == "weight"

    activity = table_for("activity")
    per_consortium = dict(
        db.execute(select(activity.c.consortium_id, func.count()).group_by(activity.c.consortium_id)).all()
    )
    assert per_consortium["DEMO2"] == per_consortium["DEMO3"] == 6 * 21
    assert per_consortium["DEMO1"] == 6 * 21 - 11  # planted activity errors rejected (the duplicate is extra)


def _logs_in(db: Session, login_id: str) -> User:
    user = db.scalar(select(User).where(User.login_id == login_id))
    assert user is not None and user.is_active and verify_password(user.password_hash, DEMO_PASSWORD)
    return user
