"""Consortia and their people: the secretariat registers a consortium and its operator accounts.

A consortium is an ``Organisation`` of kind ``consortium`` whose ``code`` is the consortium ID (the
specification's pattern: up to 10 upper-case letters and digits, assigned by the secretariat). Its
operators are ``User(role="consortium")`` of that organisation; each new account gets a one-time
activation code, returned once (only its SHA-256 is stored), exactly like imported hospital accounts.
Researchers (``Role.RESEARCHER``) read aggregates of every consortium's data (no records; the rule is
in ``exchange.access``) and change nothing.

The caller owns the transaction: this module only flushes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import activation_digest, new_activation_code
from datahealth.auth.service import Principal
from datahealth.auth.tables import Organisation, OrgKind, Role, User
from datahealth.errors import NotFound, Problem, UserError
from datahealth.exchange import spec
from datahealth.exchange.tables import Batch, table_for

_ID_FIELD = spec.CONSORTIUM.field("consortium_id")
_NAME_FIELD = spec.CONSORTIUM.field("consortium_name")
CONSORTIUM_ID = re.compile(rf"{_ID_FIELD.pattern}")
LOGIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
DISPLAY_NAME_MAX = 200

EXCHANGE_ROLES = (Role.CONSORTIUM, Role.RESEARCHER, Role.ADMIN)
"""Roles that use the exchange pages."""


@dataclass(frozen=True)
class NewAccount:
    login_id: str
    display_name: str
    activation_code: str
    """Shown once to the secretariat, who passes it on; never stored in clear."""


@dataclass(frozen=True)
class ConsortiumSummary:
    consortium_id: str
    name: str
    operators: int
    participants: int
    batches: int


def check_consortium_id(value: str) -> str:
    """The consortium ID as it will be stored, or DH-X304."""
    candidate = value.strip()
    if not CONSORTIUM_ID.fullmatch(candidate) or len(candidate) > _ID_FIELD.digits:
        raise UserError(Problem("DH-X304", {"value": candidate, "maximum": _ID_FIELD.digits}, field="consortium_id"))
    return candidate


def _check_text(value: str, field: str, label: str, maximum: int) -> str:
    text = " ".join(value.split())
    if not text or len(text) > maximum:
        raise UserError(Problem("DH-X307", {"field": label, "maximum": maximum}, field=field))
    return text


def _check_login(db: Session, login_id: str) -> str:
    candidate = login_id.strip()
    taken = db.scalar(select(User.id).where(User.login_id == candidate)) is not None
    if taken or not LOGIN_ID.fullmatch(candidate):
        raise UserError(Problem("DH-X306", {"value": candidate}, field="login_id"))
    return candidate


def create_consortium(db: Session, consortium_id: str, name: str) -> Organisation:
    """Register a consortium (DH-X304 bad ID, DH-X305 already registered, DH-X307 no name)."""
    code = check_consortium_id(consortium_id)
    label = _check_text(name, "consortium_name", "コンソーシアム名 / consortium name", _NAME_FIELD.digits)
    if find_consortium(db, code) is not None:
        raise UserError(Problem("DH-X305", {"value": code}, field="consortium_id"))
    org = Organisation(kind=OrgKind.CONSORTIUM.value, code=code, name=label)
    db.add(org)
    db.flush()
    return org


def find_consortium(db: Session, consortium_id: str) -> Organisation | None:
    return db.scalar(
        select(Organisation).where(Organisation.kind == OrgKind.CONSORTIUM.value, Organisation.code == consortium_id)
    )


def default_login_id(consortium_id: str) -> str:
    """The first operator's login ID: ``c`` + the consortium ID in lower case (hospitals use ``h`` + code)."""
    return "c" + consortium_id.lower()


def _new_account(db: Session, org: Organisation, role: Role, login_id: str, display_name: str) -> NewAccount:
    login = _check_login(db, login_id)
    name = _check_text(display_name or org.name, "display_name", "表示名 / display name", DISPLAY_NAME_MAX)
    code = new_activation_code()
    db.add(
        User(
            login_id=login,
            display_name=name,
            role=role.value,
            organisation_id=org.id,
            password_hash=None,
            activation_code_hash=activation_digest(code),
        )
    )
    db.flush()
    return NewAccount(login, name, code)


def create_operator(db: Session, consortium_id: str, login_id: str = "", display_name: str = "") -> NewAccount:
    """A consortium operator account with a one-time activation code (404 for an unknown consortium)."""
    org = find_consortium(db, consortium_id)
    if org is None:
        raise NotFound()
    return _new_account(db, org, Role.CONSORTIUM, login_id or default_login_id(org.code), display_name)


def create_researcher(db: Session, organisation_id: int, login_id: str, display_name: str) -> NewAccount:
    """A researcher account (aggregates of every consortium) in an existing organisation, e.g. the ministry."""
    org = db.get(Organisation, organisation_id)
    if org is None:
        raise NotFound()
    return _new_account(db, org, Role.RESEARCHER, login_id, display_name)


INSURER_NUMBER = re.compile(r"[0-9]{6}|[0-9]{8}")
"""保険者番号: 8 digits (6 for municipal National Health Insurance)."""


def create_insurer(db: Session, insurer_number: str, name: str, login_id: str, display_name: str = "") -> NewAccount:
    """An insurer account (its organisation registered on first use); insurers see only their own account pages."""
    code = insurer_number.strip()
    if not INSURER_NUMBER.fullmatch(code):
        raise UserError(Problem("DH-A121", {"field": "insurer_number / 保険者番号", "value": code[:20]}))
    org = db.scalar(select(Organisation).where(Organisation.kind == OrgKind.INSURER.value, Organisation.code == code))
    if org is None:
        label = _check_text(name, "insurer_name", "保険者名 / insurer name", DISPLAY_NAME_MAX)
        org = Organisation(kind=OrgKind.INSURER.value, code=code, name=label)
        db.add(org)
        db.flush()
    return _new_account(db, org, Role.INSURER, login_id, display_name)


def list_consortia(db: Session) -> list[ConsortiumSummary]:
    """Every consortium with its number of operator accounts, registered participants and batches."""
    operators = (
        select(User.organisation_id, func.count().label("n"))
        .where(User.role == Role.CONSORTIUM.value)
        .group_by(User.organisation_id)
        .subquery()
    )
    participant_table = table_for("participant")
    participants = (
        select(participant_table.c.consortium_id, func.count().label("n"))
        .group_by(participant_table.c.consortium_id)
        .subquery()
    )
    batches = select(Batch.consortium_id, func.count().label("n")).group_by(Batch.consortium_id).subquery()
    rows = db.execute(
        select(
            Organisation.code,
            Organisation.name,
            func.coalesce(operators.c.n, 0),
            func.coalesce(participants.c.n, 0),
            func.coalesce(batches.c.n, 0),
        )
        .outerjoin(operators, operators.c.organisation_id == Organisation.id)
        .outerjoin(participants, participants.c.consortium_id == Organisation.code)
        .outerjoin(batches, batches.c.consortium_id == Organisation.code)
        .where(Organisation.kind == OrgKind.CONSORTIUM.value)
        .order_by(Organisation.code)
    )
    return [ConsortiumSummary(code, name, ops, parts, n) for code, name, ops, parts, n in rows]


def consortium_choices(db: Session) -> list[tuple[str, str]]:
    """(consortium ID, name) of every consortium, for selectors."""
    rows = db.execute(
        select(Organisation.code, Organisation.name)
        .where(Organisation.kind == OrgKind.CONSORTIUM.value)
        .order_by(Organisation.code)
    )
    return [(code, name) for code, name in rows]


@dataclass(frozen=True)
class ExchangeScope:
    """What a logged-in person may do on the exchange pages."""

    consortium_id: str | None
    """The operator's own consortium; ``None`` for researchers and the secretariat (every consortium; what
    each may read of it, records or aggregates only, is ``exchange.access.session_reader``)."""
    can_send: bool
    """Operators send their consortium's data; the secretariat (admin) sends registries as itself."""
    reads_all: bool


def scope_of(db: Session, principal: Principal) -> ExchangeScope | None:
    """The exchange scope of ``principal``; ``None`` when the exchange pages do not exist for them."""
    if principal.role == Role.CONSORTIUM:
        org = db.get(Organisation, principal.organisation_id)
        if org is None or org.kind != OrgKind.CONSORTIUM.value:
            return None
        return ExchangeScope(org.code, can_send=True, reads_all=False)
    if principal.role == Role.RESEARCHER:
        return ExchangeScope(None, can_send=False, reads_all=True)
    if principal.role == Role.ADMIN:
        return ExchangeScope(None, can_send=True, reads_all=True)
    return None
