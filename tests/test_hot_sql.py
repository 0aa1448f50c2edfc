"""Hot statements (``datahealth.hot_sql``) behave as ``Session.execute`` does: same rows and conversions, the
session's transaction and autoflush, SQLAlchemy's exceptions, and a lost connection handled as usual."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from datahealth.db import table_of
from datahealth.hot_sql import HotStatement
from datahealth.idempotency import IdempotencyKey
from datahealth.survey.tables import Survey

_SURVEYS = table_of(Survey)
_KEYS = table_of(IdempotencyKey)
AT = datetime(2026, 11, 21, 14, 59, 59, 123456, tzinfo=UTC)


def _survey(db: Session, key: str = "hot") -> Survey:
    survey = Survey(
        survey_key=key,
        version="1",
        title_ja="調査 <b>&",
        definition={"sections": [{"name": "一", "n": 1, "x": None, "list": [1.5, "二"]}]},
        opens_on=date(2026, 11, 1),
        closes_on=date(2026, 11, 30),
        created_at=AT,
        updated_at=AT,
    )
    db.add(survey)
    return survey


def test_rows_and_conversions_are_those_of_session_execute(db: Session) -> None:
    survey = _survey(db)
    db.flush()
    statement = select(
        _SURVEYS.c.id, _SURVEYS.c.title_ja, _SURVEYS.c.definition, _SURVEYS.c.opens_on, _SURVEYS.c.updated_at
    ).where(_SURVEYS.c.id == bindparam("survey"), _SURVEYS.c.status != "never")
    hot = HotStatement(statement).rows(db, {"survey": survey.id})
    assert hot == [tuple(row) for row in db.execute(statement, {"survey": survey.id})]
    assert hot[0][2] == survey.definition
    assert hot[0][3] == date(2026, 11, 1)
    assert hot[0][4] == AT  # timezone-aware UTC, as UtcDateTime gives it
    assert HotStatement(statement).first(db, {"survey": survey.id + 1000}) is None


def test_writes_go_through_the_types_and_stay_in_the_session_transaction(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    survey = _survey(db)
    db.flush()
    changed = HotStatement(
        update(_SURVEYS).where(_SURVEYS.c.id == bindparam("survey")).values(version="2"),
        column_keys=["definition", "updated_at"],
    )
    assert changed.rows(db, {"survey": survey.id, "definition": {"答え": ["はい"]}, "updated_at": AT}) == []
    claim = HotStatement(insert(_KEYS).returning(_KEYS.c.id), column_keys=["scope", "owner", "key", "created_at"])
    (key_id,) = claim.first(db, {"scope": "s", "owner": "o", "key": "k-0001", "created_at": AT}) or (None,)
    assert isinstance(key_id, int)
    row = db.execute(
        select(_SURVEYS.c.version, _SURVEYS.c.definition, _SURVEYS.c.updated_at).where(_SURVEYS.c.id == survey.id)
    ).one()
    assert tuple(row) == ("2", {"答え": ["はい"]}, AT)
    with session_factory() as other:  # not committed: nobody else sees it
        assert other.get(IdempotencyKey, key_id) is None
    db.rollback()
    assert db.get(IdempotencyKey, key_id) is None


def test_pending_orm_changes_are_flushed_first(db: Session) -> None:
    survey = _survey(db, "pending")  # added, not flushed
    found = HotStatement(select(_SURVEYS.c.id).where(_SURVEYS.c.survey_key == bindparam("key"))).first(
        db, {"key": "pending"}
    )
    assert found == (survey.id,)


def test_driver_errors_are_sqlalchemy_errors_and_the_session_recovers(db: Session) -> None:
    claim = HotStatement(insert(_KEYS), column_keys=["id", "scope", "owner", "key", "created_at"])
    claim.rows(db, {"id": 7, "scope": "s", "owner": "o", "key": "k-0001", "created_at": AT})
    with pytest.raises(IntegrityError):
        claim.rows(db, {"id": 7, "scope": "s", "owner": "o", "key": "k-0002", "created_at": AT})
    db.rollback()
    claim.rows(db, {"id": 7, "scope": "s", "owner": "o", "key": "k-0003", "created_at": AT})
    db.commit()
    assert db.get(IdempotencyKey, 7) is not None


def test_python_side_defaults_must_be_given() -> None:
    from sqlalchemy.dialects import postgresql

    missing = HotStatement(insert(_SURVEYS), column_keys=["survey_key", "version"])
    with pytest.raises(ValueError, match="status"):
        missing._compile(postgresql.psycopg.dialect())  # type: ignore[attr-defined]


def test_a_lost_connection_is_an_operational_error_and_the_pool_replaces_it(
    db: Session, session_factory: sessionmaker[Session]
) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the driver's own path is PostgreSQL's")
    statement = HotStatement(select(_SURVEYS.c.id).where(_SURVEYS.c.id == bindparam("survey")))
    statement.rows(db, {"survey": 1})
    backend = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with session_factory() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        admin.commit()
    with pytest.raises(OperationalError):
        statement.rows(db, {"survey": 1})
    db.rollback()
    assert statement.rows(db, {"survey": 1}) == []  # a new connection from the pool
    assert db.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
