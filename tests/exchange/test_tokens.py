"""API tokens and consortium accounts: hashed storage, shown once, revocation, last use, tenancy."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import activation_digest
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.errors import NotAuthenticated, NotFound, UserError
from datahealth.exchange import consortia
from datahealth.exchange.tables import ApiToken
from datahealth.exchange.tokens import (
    ALL_CONSORTIA,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)

NOW = datetime(2025, 3, 1, 1, tzinfo=UTC)


def test_token_is_stored_only_as_its_sha256_and_shown_once(db: Session) -> None:
    token, plaintext = create_token(db, "CONSA", "  nightly   upload ", created_by=None, now=NOW)
    db.commit()
    assert plaintext.startswith("dhx_") and len(plaintext) >= 40
    stored = db.scalars(select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert stored.prefix == plaintext[:12]
    assert stored.name == "nightly upload"
    assert plaintext not in (stored.token_hash, stored.prefix, stored.name)
    assert token.consortium_id == "CONSA" and token.last_used_at is None


def test_two_tokens_differ(db: Session) -> None:
    _, first = create_token(db, "CONSA", "a", None, NOW)
    _, second = create_token(db, "CONSA", "b", None, NOW)
    assert first != second


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_token_needs_a_name(db: Session, name: str) -> None:
    with pytest.raises(UserError) as caught:
        create_token(db, "CONSA", name, None, NOW)
    assert caught.value.code == "DH-X307"


def test_authenticate_returns_the_consortium_and_records_last_use(db: Session) -> None:
    token, plaintext = create_token(db, "CONSA", "api", None, NOW)
    assert authenticate_token(db, plaintext, NOW + timedelta(hours=1)) == "CONSA"
    assert token.last_used_at == NOW + timedelta(hours=1)
    # Within a minute the stored time is not rewritten (no write per request).
    authenticate_token(db, plaintext, NOW + timedelta(hours=1, seconds=30))
    assert token.last_used_at == NOW + timedelta(hours=1)
    authenticate_token(db, plaintext, NOW + timedelta(hours=2))
    assert token.last_used_at == NOW + timedelta(hours=2)


@pytest.mark.parametrize("supplied", ["", "dhx_", "dhx_wrong", "Bearer x", "dhx_" + "a" * 300])
def test_unknown_tokens_are_refused(db: Session, supplied: str) -> None:
    create_token(db, "CONSA", "api", None, NOW)
    with pytest.raises(NotAuthenticated) as caught:
        authenticate_token(db, supplied, NOW)
    assert caught.value.code == "DH-X301"


def test_revoked_token_is_refused_and_revoking_is_idempotent(db: Session) -> None:
    token, plaintext = create_token(db, "CONSA", "api", None, NOW)
    revoke_token(db, token.id, "CONSA", NOW + timedelta(days=1))
    revoke_token(db, token.id, "CONSA", NOW + timedelta(days=2))
    assert token.revoked_at == NOW + timedelta(days=1)
    with pytest.raises(NotAuthenticated) as caught:
        authenticate_token(db, plaintext, NOW + timedelta(days=3))
    assert caught.value.code == "DH-X301"


def test_another_consortium_cannot_revoke_or_see_a_token(db: Session) -> None:
    token, plaintext = create_token(db, "CONSA", "api", None, NOW)
    create_token(db, "CONSB", "theirs", None, NOW)
    with pytest.raises(NotFound):
        revoke_token(db, token.id, "CONSB", NOW)
    with pytest.raises(NotFound):
        revoke_token(db, 999_999, "CONSA", NOW)
    assert authenticate_token(db, plaintext, NOW) == "CONSA"
    assert [t.name for t in list_tokens(db, "CONSB")] == ["theirs"]
    assert {t.name for t in list_tokens(db, None)} == {"api", "theirs"}
    # The secretariat (None) may revoke any token.
    revoke_token(db, token.id, None, NOW)
    assert token.revoked_at == NOW


def test_read_all_tokens_and_listing_by_creator(db: Session) -> None:
    ministry = Organisation(kind=OrgKind.MINISTRY.value, code="MHLW", name="厚生労働省")
    db.add(ministry)
    db.flush()
    account = consortia.create_researcher(db, ministry.id, "res1", "研究者")
    user_id = db.scalar(select(User.id).where(User.login_id == account.login_id))
    _, plaintext = create_token(db, ALL_CONSORTIA, "analysis", created_by=user_id, now=NOW)
    create_token(db, ALL_CONSORTIA, "someone else's", created_by=None, now=NOW)
    assert authenticate_token(db, plaintext, NOW) == ALL_CONSORTIA
    assert [t.name for t in list_tokens(db, ALL_CONSORTIA, created_by=user_id)] == ["analysis"]


# --- consortia and their accounts -------------------------------------------------------------------


def test_create_consortium_and_operator_with_one_time_code(db: Session) -> None:
    org = consortia.create_consortium(db, " CONSA ", " 東京ヘルスケア  コンソーシアム ")
    assert (org.kind, org.code, org.name) == ("consortium", "CONSA", "東京ヘルスケア コンソーシアム")
    account = consortia.create_operator(db, "CONSA")
    assert account.login_id == "cconsa"
    user = db.scalars(select(User).where(User.login_id == "cconsa")).one()
    assert user.role == Role.CONSORTIUM and user.organisation_id == org.id and user.password_hash is None
    assert user.activation_code_hash == activation_digest(account.activation_code)
    assert account.activation_code not in (user.activation_code_hash or "")
    second = consortia.create_operator(db, "CONSA", login_id="consa-2", display_name="担当 2")
    assert second.activation_code != account.activation_code
    summaries = consortia.list_consortia(db)
    assert [(s.consortium_id, s.operators, s.participants, s.batches) for s in summaries] == [("CONSA", 2, 0, 0)]
    assert consortia.consortium_choices(db) == [("CONSA", "東京ヘルスケア コンソーシアム")]


@pytest.mark.parametrize(
    ("consortium_id", "code"),
    [("consa", "DH-X304"), ("CONS-A", "DH-X304"), ("ABCDEFGHIJK", "DH-X304"), ("", "DH-X304"), ("ＣＯＮＳ", "DH-X304")],
)
def test_consortium_id_follows_the_specification(db: Session, consortium_id: str, code: str) -> None:
    with pytest.raises(UserError) as caught:
        consortia.create_consortium(db, consortium_id, "名前")
    assert caught.value.code == code


def test_duplicate_consortium_missing_name_and_taken_login(db: Session) -> None:
    consortia.create_consortium(db, "CONSA", "A")
    with pytest.raises(UserError) as caught:
        consortia.create_consortium(db, "CONSA", "again")
    assert caught.value.code == "DH-X305"
    with pytest.raises(UserError) as caught:
        consortia.create_consortium(db, "CONSB", "  ")
    assert caught.value.code == "DH-X307"
    consortia.create_operator(db, "CONSA")
    with pytest.raises(UserError) as caught:
        consortia.create_operator(db, "CONSA")
    assert caught.value.code == "DH-X306"
    with pytest.raises(UserError) as caught:
        consortia.create_operator(db, "CONSA", login_id="has space")
    assert caught.value.code == "DH-X306"
    with pytest.raises(NotFound):
        consortia.create_operator(db, "NOSUCH")


def test_scope_of_each_role(db: Session) -> None:
    import factories as f

    org = consortia.create_consortium(db, "CONSA", "A")
    operator = f.make_user(db, org, "op", role=Role.CONSORTIUM)
    ministry = f.make_org(db, code="MHLW", name="省", kind=OrgKind.MINISTRY)
    researcher = f.make_user(db, ministry, "res", role=Role.RESEARCHER)
    admin = f.make_user(db, ministry, "adm", role=Role.ADMIN)
    hospital = f.make_user(db, f.make_org(db), "hosp")
    db.flush()
    assert consortia.scope_of(db, f.principal(operator)) == consortia.ExchangeScope("CONSA", True, False)
    assert consortia.scope_of(db, f.principal(researcher)) == consortia.ExchangeScope(None, False, True)
    assert consortia.scope_of(db, f.principal(admin)) == consortia.ExchangeScope(None, True, True)
    assert consortia.scope_of(db, f.principal(hospital)) is None
