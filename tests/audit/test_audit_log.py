"""The audit log is a gap-free hash chain that the database refuses to change, and tampering is detected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from datahealth.audit import log
from datahealth.audit.tables import AuditEvent

NOW = datetime(2025, 2, 1, 3, tzinfo=UTC)


def _write(db: Session, n: int, start: datetime = NOW) -> None:
    for index in range(n):
        log.record(
            db,
            actor=f"user:u{index}",
            action="survey.response.view",
            object_type="response",
            object_id=index,
            address="127.0.0.1",
            now=start + timedelta(seconds=index),
            detail={"section": "governance"},
        )


def test_chain_verifies_and_is_gap_free(session_factory: sessionmaker[Session]):
    with session_factory.begin() as db:
        _write(db, 25)
    with session_factory() as db:
        result = log.verify(db)
        assert (result.ok, result.events) == (True, 25)
        assert [e.seq for e in db.query(AuditEvent).order_by(AuditEvent.seq)] == list(range(1, 26))


def test_rolled_back_events_leave_no_gap(session_factory: sessionmaker[Session]):
    with session_factory.begin() as db:
        _write(db, 3)
    with pytest.raises(RuntimeError), session_factory.begin() as db:
        _write(db, 2)
        raise RuntimeError("the change failed, so its audit events must vanish with it")
    with session_factory.begin() as db:
        _write(db, 1)
    with session_factory() as db:
        assert log.verify(db).ok and log.verify(db).events == 4


def test_database_refuses_update_and_delete(session_factory: sessionmaker[Session]):
    with session_factory.begin() as db:
        _write(db, 2)
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(DatabaseError), session_factory.begin() as db:
            db.execute(text(statement))


@pytest.fixture
def without_triggers(engine: Engine) -> Iterator[None]:
    """Drop the append-only triggers (what only the table owner could do); put them back afterwards,
    since the PostgreSQL test database is shared by the whole session."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if postgres:
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
            connection.execute(text("DROP TRIGGER audit_events_no_delete"))
    yield
    with engine.begin() as connection:
        if postgres:
            connection.execute(
                text(
                    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
                )
            )
        else:
            for verb in ("UPDATE", "DELETE"):
                connection.execute(
                    text(
                        f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
                    )
                )


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_events SET actor = 'user:someone-else' WHERE seq = 5",
        "DELETE FROM audit_events WHERE seq = 5",
        'UPDATE audit_events SET detail = \'{"section": "bcp"}\' WHERE seq = 7',
    ],
)
@pytest.mark.usefixtures("without_triggers")
def test_tampering_by_the_table_owner_is_detected(engine: Engine, session_factory: sessionmaker[Session], tamper: str):
    with session_factory.begin() as db:
        _write(db, 10)
    with engine.begin() as connection:
        connection.execute(text(tamper))
    with session_factory() as db:
        result = log.verify(db)
    assert not result.ok and result.first_bad_seq in (5, 7)


@pytest.mark.usefixtures("without_triggers")
def test_truncating_the_tail_is_detected(engine: Engine, session_factory: sessionmaker[Session]):
    with session_factory.begin() as db:
        _write(db, 6)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    with session_factory() as db:
        assert not log.verify(db).ok


def test_secrets_are_refused_in_details(db: Session):
    with pytest.raises(ValueError, match="password"):
        log.record(db, actor="user:x", action="auth.login", now=NOW, detail={"password": "hunter2"})


def test_concurrent_appends_keep_one_chain(session_factory: sessionmaker[Session]):
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for index in range(15):
                with session_factory.begin() as db:
                    log.record(
                        db,
                        actor=f"user:w{offset}",
                        action="x",
                        object_id=index,
                        now=NOW + timedelta(seconds=offset * 100 + index),
                    )
        except BaseException as exc:  # noqa: BLE001  (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with session_factory() as db:
        assert log.verify(db).ok and log.verify(db).events == 45


def test_the_stored_hash_is_the_chain_hash_for_any_text(session_factory: sessionmaker[Session]):
    """PostgreSQL computes the hash in its one-statement append: it must equal ``chain_hash`` byte for byte."""
    awkward = ["病院 髙﨑𠮷", 'quote " backslash \\ newline \n tab \t', "", "ｶﾀｶﾅ ①", "emoji 🏥"]
    with session_factory.begin() as db:
        for index, value in enumerate(awkward):
            log.record(
                db,
                actor=f"user:{value}"[:120],
                role="hospital",
                organisation_id=None if index % 2 else index,
                action="survey.response.save",
                object_type="response",
                object_id=value or index,
                address=value,
                now=NOW + timedelta(microseconds=index * 7),
                detail={"section": value, "questions": index, "nested": {"k": [value, None, True, 1.5]}},
            )
    with session_factory() as db:
        events = db.query(AuditEvent).order_by(AuditEvent.seq).all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        for previous, event in zip([None, *events], events, strict=False):
            assert event.prev_hash == (previous.hash if previous else log.GENESIS)
            assert event.hash == log.chain_hash(event.prev_hash, event)
        assert log.verify(db).ok


def test_events_are_sealed_in_order_when_their_transaction_commits(session_factory: sessionmaker[Session]):
    """PostgreSQL seals at COMMIT (deferred trigger): nothing pending afterwards, seqs in the order recorded."""
    from datahealth.audit.tables import AuditPending

    with session_factory.begin() as db:
        for index in range(3):
            log.record(db, actor=f"user:u{index}", action=f"test.step{index}", now=NOW + timedelta(seconds=index))
    with session_factory.begin() as db:
        log.record(db, actor="user:later", action="test.later", now=NOW + timedelta(seconds=10))
    with session_factory() as db:
        events = db.query(AuditEvent).order_by(AuditEvent.seq).all()
        assert [(e.seq, e.action) for e in events] == [
            (1, "test.step0"),
            (2, "test.step1"),
            (3, "test.step2"),
            (4, "test.later"),
        ]
        assert db.query(AuditPending).count() == 0
        assert log.verify(db).ok
