"""A section save is one short transaction: session, idempotency key, locked read, update and audit event (on
PostgreSQL three statements: the key is claimed with the locked read, the audit event goes with the update).

The load target (issue 4 item 8) depends on it; these tests fail if a save grows back into several transactions
or many statements, and check the path's behaviour at its edges (first save, unchanged answers, refusals,
an expired session).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from datahealth.audit.tables import AuditEvent
from datahealth.auth.tables import WebSession
from datahealth.config import Settings
from datahealth.idempotency import IdempotencyKey
from datahealth.survey.tables import Response


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0


@contextmanager
def counted(settings: Settings) -> Iterator[Counts]:
    """Statements as the driver receives them: on PostgreSQL the hot statements (``datahealth.hot_sql``) go to the
    driver's cursor directly, so SQLAlchemy's events do not see them there; its cursor's ``execute`` sees all."""
    counts = Counts()

    def statement(*_args: Any) -> None:
        counts.statements += 1

    def commit(*_args: Any) -> None:
        counts.commits += 1

    postgres = settings.resolved_database_url().startswith("postgresql")
    original = psycopg.Cursor.execute

    def driver_execute(cursor: Any, *args: Any, **kwargs: Any) -> Any:
        statement()
        return original(cursor, *args, **kwargs)

    if postgres:
        psycopg.Cursor.execute = driver_execute  # type: ignore[method-assign]
    else:
        event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", commit)
    try:
        yield counts
    finally:
        if postgres:
            psycopg.Cursor.execute = original  # type: ignore[method-assign]
        else:
            event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "commit", commit)


def _save(browser, survey_id: int, value: str, key: str):
    return browser.post(
        f"/surveys/{survey_id}/s/governance",
        {"_shown": ["q2_1"], "q2_1": value},
        headers={"HX-Request": "true", "Idempotency-Key": key},
    )


def _response(session_factory: sessionmaker[Session], organisation_id: int) -> Response | None:
    with session_factory() as db:
        return db.scalar(select(Response).where(Response.organisation_id == organisation_id))


def _count(session_factory: sessionmaker[Session], statement: Any) -> int:
    with session_factory() as db:
        return int(db.scalar(statement) or 0)


def test_a_save_is_one_transaction_of_a_few_statements(browser, world, settings):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert _save(browser, world.survey_id, "yes", "first-save-0001").status_code == 200  # creates the response
    with counted(settings) as counts:
        response = _save(browser, world.survey_id, "no", "second-save-0002")
    assert response.status_code == 200
    assert "q2_1" in response.text or "form-status" in response.text
    assert counts.commits == 1, "session, key, answers and audit event commit together"
    if settings.resolved_database_url().startswith("postgresql"):
        # session; key claimed with the locked read; update with the audit event (sealed at commit)
        assert counts.statements == 3, counts.statements
    else:
        # session + key + locked read + update + audit head, event, head hash
        assert 5 <= counts.statements <= 7, counts.statements


def test_first_save_creates_the_response_and_only_changes_bump_the_revision(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert _response(session_factory, world.hospital_a) is None
    _save(browser, world.survey_id, "yes", "save-aaaa-0001")
    first = _response(session_factory, world.hospital_a)
    assert first is not None and first.answers == {"q2_1": "yes"} and first.revision == 1
    _save(browser, world.survey_id, "no", "save-aaaa-0002")
    second = _response(session_factory, world.hospital_a)
    assert second is not None and second.answers == {"q2_1": "no"} and second.revision == 2
    _save(browser, world.survey_id, "no", "save-aaaa-0003")  # the same answer again: nothing to change
    third = _response(session_factory, world.hospital_a)
    assert third is not None and third.revision == 2 and third.updated_at == second.updated_at
    saves = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "survey.response.save")
    assert _count(session_factory, saves) == 3, "every save is audited, changed or not"


def test_a_refused_save_leaves_no_key_and_no_audit_event(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    _save(browser, world.survey_id, "yes", "save-bbbb-0001")
    missing = browser.post(
        f"/surveys/{world.survey_id}/s/no-such-section",
        {"_shown": ["q2_1"], "q2_1": "no"},
        headers={"HX-Request": "true", "Idempotency-Key": "save-bbbb-0002"},
    )
    assert missing.status_code == 404
    keys = select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == "save-bbbb-0002")
    assert _count(session_factory, keys) == 0, "the key is claimed in the save's transaction, rolled back with it"
    saves = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "survey.response.save")
    assert _count(session_factory, saves) == 1
    stored = _response(session_factory, world.hospital_a)
    assert stored is not None and stored.answers == {"q2_1": "yes"}


def test_a_save_with_a_wrong_csrf_token_changes_nothing(browser, world, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    _save(browser, world.survey_id, "yes", "save-cccc-0001")
    browser.csrf = "forged-token"
    refused = _save(browser, world.survey_id, "no", "save-cccc-0002")
    assert refused.status_code == 403
    stored = _response(session_factory, world.hospital_a)
    assert stored is not None and stored.answers == {"q2_1": "yes"}
    keys = select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == "save-cccc-0002")
    assert _count(session_factory, keys) == 0


def test_a_save_after_the_idle_timeout_ends_the_session(browser, world, clock, settings, session_factory):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    clock.moment += timedelta(minutes=settings.session_idle_minutes + 1)
    response = browser.post(
        f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert _response(session_factory, world.hospital_a) is None
    assert _count(session_factory, select(func.count()).select_from(WebSession)) == 0, "the expired session is removed"


def test_saves_work_again_after_the_app_was_stopped_and_started(app, world, clock):
    """The save threads end with the app's lifespan; a new start (a restarted app, a test client) makes new ones."""
    from starlette.testclient import TestClient

    from web_client import Browser

    for _round in range(2):
        with TestClient(app, base_url="http://testserver") as client:
            browser = Browser(client, clock)
            browser.login("hosp-a")
            browser.get(f"/surveys/{world.survey_id}/s/governance")
            assert _save(browser, world.survey_id, "yes", f"restart-save-{_round}-0001").status_code == 200


def test_a_replayed_first_save_changes_nothing_and_is_audited_as_not_applied(browser, world, session_factory):
    """The key of a hospital's very first save (the response created in the same transaction), sent again."""
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert _save(browser, world.survey_id, "yes", "first-dddd-0001").status_code == 200
    replay = _save(browser, world.survey_id, "no", "first-dddd-0001")
    assert replay.status_code == 200
    stored = _response(session_factory, world.hospital_a)
    assert stored is not None and stored.answers == {"q2_1": "yes"} and stored.revision == 1
    keys = select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.key == "first-dddd-0001")
    assert _count(session_factory, keys) == 1
    with session_factory() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "survey.response.save").order_by(AuditEvent.seq)
        ).all()
        assert [event.detail["applied"] for event in events] == [True, False]
        assert {event.detail["idempotency_key"] for event in events} == {"first-dddd-0001"}
