"""Log in, log out, activate an account; server-side sessions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import (
    activation_digest,
    check_new_password,
    hash_password,
    new_token,
    token_digest,
    verify_password,
)
from datahealth.auth.tables import Role, User, WebSession
from datahealth.config import Settings
from datahealth.errors import UserError


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

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def authenticate(db: Session, login_id: str, password: str, now: datetime) -> User:
    user = db.scalar(select(User).where(User.login_id == login_id.strip()))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise UserError.of("DH-A101")
    user.last_login_at = now
    return user


def start_session(db: Session, user: User, settings: Settings, now: datetime) -> str:
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
        )
    )
    return token


def resume_session(db: Session, token: str, settings: Settings, now: datetime) -> Principal | None:
    """The principal of a live session, refreshing its idle timer; ``None`` if absent or expired."""
    if not token:
        return None
    web_session = db.get(WebSession, token_digest(token))
    if web_session is None:
        return None
    idle_limit = web_session.last_seen_at + timedelta(minutes=settings.session_idle_minutes)
    if now >= web_session.expires_at or now >= idle_limit or not web_session.user.is_active:
        db.delete(web_session)
        return None
    # Writing on every request would serialise readers on SQLite; a minute's resolution is enough.
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
    user = web_session.user
    return Principal(
        user_id=user.id,
        login_id=user.login_id,
        display_name=user.display_name,
        role=Role(user.role),
        organisation_id=user.organisation_id,
        organisation_name=user.organisation.name,
        csrf_token=web_session.csrf_token,
        locale=user.locale,
    )


def end_session(db: Session, token: str) -> None:
    if token:
        db.execute(delete(WebSession).where(WebSession.id == token_digest(token)))


def activate_account(
    db: Session, login_id: str, code: str, password: str, confirmation: str, settings: Settings
) -> User:
    """Set the first password of an imported account with its one-time activation code."""
    user = db.scalar(select(User).where(User.login_id == login_id.strip()))
    if user is None or not user.activation_code_hash or user.activation_code_hash != activation_digest(code):
        raise UserError.of("DH-A106")
    check_new_password(password, confirmation, settings.password_min_length)
    user.password_hash = hash_password(password)
    user.activation_code_hash = None
    return user
