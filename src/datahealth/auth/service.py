"""Log in (password, then the second factor), log out, activate, re-authenticate; server-side sessions.

A session starts at the password step with a fresh id (no fixation) and is promoted in place once the
second factor is given: ``second_factor`` (TOTP or recovery code needed) or ``enroll`` (this role must
set up TOTP first) sessions can reach only the two-factor pages. Every login attempt, success or not,
is audited in the same transaction as its effect.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, joinedload

from datahealth.audit import log as audit
from datahealth.auth import throttle, totp
from datahealth.auth.passwords import activation_digest, hash_password, new_token, token_digest, verify_password
from datahealth.auth.policy import check_new_password
from datahealth.auth.tables import Organisation, Role, SessionStage, User, WebSession
from datahealth.config import Settings
from datahealth.db import table_of
from datahealth.errors import UserError
from datahealth.hot_sql import HotStatement

TWO_FACTOR_REQUIRED = frozenset({Role.ADMIN, Role.CONSORTIUM})
"""Roles that must log in with two factors (administrators and consortium operators)."""


@dataclass(frozen=True)
class Principal:
    """Who is making a request, as the web layer and the services see it."""

    user_id: int
    login_id: str
    display_name: str
    role: Role
    organisation_id: int
    organisation_name: str
    csrf_token: str
    locale: str
    stage: SessionStage = SessionStage.FULL
    reauth_at: datetime | None = None
    two_factor: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def actor(self) -> str:
        return f"user:{self.login_id}"

    def reauthenticated_since(self, moment: datetime) -> bool:
        return self.reauth_at is not None and self.reauth_at >= moment


class LoginOutcome(StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    token: str = ""
    stage: SessionStage = SessionStage.FULL
    lock_minutes: int = 0


def attempt_login(
    db: Session, settings: Settings, login_id: str, password: str, address: str, now: datetime
) -> LoginResult:
    """Check the password under the throttle; on success start a session at the right stage."""
    login_id = login_id.strip()
    lock_minutes = throttle.locked_minutes(db, login_id, address, now)
    if lock_minutes:
        audit.record(
            db,
            actor=f"user:{login_id}",
            action="auth.login",
            outcome="denied",
            address=address,
            now=now,
            detail={"reason": "throttled"},
        )
        return LoginResult(LoginOutcome.LOCKED, lock_minutes=lock_minutes)
    user = db.scalar(select(User).where(User.login_id == login_id))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        throttle.record_failure(db, settings, login_id, address, now)
        audit.record(
            db,
            actor=f"user:{login_id}",
            action="auth.login",
            outcome="failure",
            address=address,
            now=now,
            detail={"reason": "bad_credentials"},
        )
        return LoginResult(LoginOutcome.BAD_CREDENTIALS)
    throttle.record_success(db, login_id, address)
    stage = _stage_after_password(user)
    token = start_session(db, user, settings, now, stage)
    if stage == SessionStage.FULL:
        user.last_login_at = now
    audit.record(
        db,
        actor=f"user:{login_id}",
        role=user.role,
        organisation_id=user.organisation_id,
        action="auth.login" if stage == SessionStage.FULL else "auth.password",
        address=address,
        now=now,
        detail={"stage": stage.value},
    )
    return LoginResult(LoginOutcome.OK, token, stage)


def _stage_after_password(user: User) -> SessionStage:
    if user.two_factor_enabled:
        return SessionStage.SECOND_FACTOR
    if Role(user.role) in TWO_FACTOR_REQUIRED:
        return SessionStage.ENROLL
    return SessionStage.FULL


def start_session(
    db: Session, user: User, settings: Settings, now: datetime, stage: SessionStage = SessionStage.FULL
) -> str:
    """Create a new session (a fresh id at every login) and return the cookie token."""
    token = new_token()
    db.add(
        WebSession(
            id=token_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_absolute_hours),
            stage=stage,
            reauth_at=now,
        )
    )
    return token


_SESSIONS, _USERS, _ORGANISATIONS = table_of(WebSession), table_of(User), table_of(Organisation)
_SESSION_PRINCIPAL = (
    select(
        _SESSIONS.c.csrf_token,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.stage,
        _SESSIONS.c.reauth_at,
        _USERS.c.id,
        _USERS.c.login_id,
        _USERS.c.display_name,
        _USERS.c.role,
        _USERS.c.organisation_id,
        _USERS.c.locale,
        _USERS.c.is_active,
        _USERS.c.totp_enabled_at,
        _ORGANISATIONS.c.name,
    )
    .select_from(_SESSIONS.join(_USERS, _USERS.c.id == _SESSIONS.c.user_id))
    .join(_ORGANISATIONS, _ORGANISATIONS.c.id == _USERS.c.organisation_id)
    .where(_SESSIONS.c.id == bindparam("digest"))
)
_SESSION_PRINCIPAL_HOT = HotStatement(_SESSION_PRINCIPAL)  # every request of a logged-in person
_END_SESSION = delete(_SESSIONS).where(_SESSIONS.c.id == bindparam("digest"))
_TOUCH_SESSION = update(_SESSIONS).where(_SESSIONS.c.id == bindparam("digest"))


def resume_session(db: Session, token: str, settings: Settings, now: datetime) -> Principal | None:
    """The principal of a live session (any stage), refreshing its idle timer; ``None`` if absent or expired.

    Every request of a logged-in person comes through here, so it is one Core query (session, user and
    organisation joined) and, at most once a minute, one ``UPDATE`` of the idle timer.
    """
    if not token:
        return None
    digest = token_digest(token)
    row = _SESSION_PRINCIPAL_HOT.first(db, {"digest": digest})
    if row is None:
        return None
    csrf, last_seen, expires, stage, reauth_at, user_id, login_id, display_name, role, organisation_id = row[:10]
    locale, is_active, totp_enabled_at, organisation_name = row[10:]
    if now >= expires or now >= last_seen + timedelta(minutes=settings.session_idle_minutes) or not is_active:
        db.execute(_END_SESSION, {"digest": digest})
        return None
    # Writing on every request would serialise readers on SQLite; a minute's resolution is enough.
    if now - last_seen > timedelta(minutes=1):
        db.execute(_TOUCH_SESSION, {"digest": digest, "last_seen_at": now})
    return Principal(
        user_id=user_id,
        login_id=login_id,
        display_name=display_name,
        role=Role(role),
        organisation_id=organisation_id,
        organisation_name=organisation_name,
        csrf_token=csrf,
        locale=locale,
        stage=SessionStage(stage),
        reauth_at=reauth_at,
        two_factor=totp_enabled_at is not None,
    )


def _live_session(db: Session, token: str, settings: Settings, now: datetime) -> WebSession | None:
    if not token:
        return None
    # One query for the session, its user and organisation (every request resolves them).
    loaded = joinedload(WebSession.user).joinedload(User.organisation)
    web_session = db.get(WebSession, token_digest(token), options=[loaded])
    if web_session is None:
        return None
    idle_limit = web_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= web_session.expires_at or now >= idle_limit or not web_session.user.is_active:
        db.delete(web_session)
        return None
    # Writing on every request would serialise readers on SQLite; a minute's resolution is enough.
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
    return web_session


def promote_session(db: Session, token: str, settings: Settings, now: datetime) -> None:
    """The second factor was given: the session becomes a full login."""
    web_session = _live_session(db, token, settings, now)
    if web_session is not None:
        web_session.stage = SessionStage.FULL
        web_session.reauth_at = now
        web_session.user.last_login_at = now


def mark_reauthenticated(db: Session, token: str, settings: Settings, now: datetime) -> None:
    web_session = _live_session(db, token, settings, now)
    if web_session is not None:
        web_session.reauth_at = now


def end_session(db: Session, token: str) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.id == token_digest(token)))


def end_other_sessions(db: Session, user_id: int, keep_token: str) -> None:
    """After a password change every other session of the account ends."""
    db.execute(delete(WebSession).where(WebSession.user_id == user_id, WebSession.id != token_digest(keep_token)))


def second_factor(db: Session, settings: Settings, user: User, code: str, now: datetime) -> str | None:
    """Check a TOTP code or a recovery code; returns which one worked (``totp``/``recovery``) or ``None``."""
    if totp.verify(settings, user, code, now):
        return "totp"
    if totp.use_recovery_code(db, user, code, now):
        return "recovery"
    return None


def verify_current_password(user: User, password: str) -> bool:
    return verify_password(user.password_hash, password)


def change_password(
    db: Session, settings: Settings, user: User, current: str, new: str, confirmation: str, now: datetime
) -> None:
    if not verify_password(user.password_hash, current):
        raise UserError.of("DH-A115")
    check_new_password(new, confirmation, settings, login_id=user.login_id, two_factor=user.two_factor_enabled)
    user.password_hash = hash_password(new)
    user.password_changed_at = now


def activate_account(
    db: Session, login_id: str, code: str, password: str, confirmation: str, settings: Settings, now: datetime
) -> User:
    """Set the first password of an imported account with its one-time activation code."""
    user = db.scalar(select(User).where(User.login_id == login_id.strip()))
    expected = user.activation_code_hash if user is not None else None
    if user is None or not expected or not hmac.compare_digest(expected, activation_digest(code)):
        raise UserError.of("DH-A106")
    check_new_password(password, confirmation, settings, login_id=user.login_id)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.activation_code_hash = None
    return user


def user_of(db: Session, principal: Principal) -> User:
    user = db.get(User, principal.user_id)
    if user is None:
        raise UserError.of("DH-A102")
    return user
