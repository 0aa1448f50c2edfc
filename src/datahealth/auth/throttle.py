"""Login throttling per account and per client address (ASVS 2.2.1), stored in the database so that
every server process sees the same counts. Unknown login IDs are throttled like real ones, so the
throttle does not reveal which accounts exist."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from datahealth.auth.tables import LoginThrottle
from datahealth.config import Settings
from datahealth.errors import TooManyRequests


def _keys(login_id: str, address: str) -> list[tuple[str, str]]:
    return [("account", "account:" + login_id.strip().lower()[:150]), ("address", "address:" + address[:100])]


def _limit(settings: Settings, kind: str) -> int:
    return settings.login_max_failures_per_account if kind == "account" else settings.login_max_failures_per_address


def locked_minutes(db: Session, login_id: str, address: str, now: datetime) -> int:
    """Minutes until the account or the address may try again; 0 when neither is locked."""
    longest = 0
    for _kind, key in _keys(login_id, address):
        entry = db.get(LoginThrottle, key)
        if entry is not None and entry.locked_until is not None and entry.locked_until > now:
            longest = max(longest, int((entry.locked_until - now).total_seconds() // 60) + 1)
    return longest


def ensure_allowed(db: Session, login_id: str, address: str, now: datetime) -> None:
    """Refuse (429, DH-A111) while the account or the address is locked."""
    minutes = locked_minutes(db, login_id, address, now)
    if minutes:
        raise TooManyRequests.of("DH-A111", minutes=minutes)


def record_failure(db: Session, settings: Settings, login_id: str, address: str, now: datetime) -> bool:
    """Count a failed login; returns True when this failure locked the account or the address."""
    window = timedelta(minutes=settings.login_throttle_minutes)
    locked = False
    for kind, key in _keys(login_id, address):
        entry = db.get(LoginThrottle, key)
        if entry is None:
            entry = LoginThrottle(key=key, failures=0, window_started_at=now)
            db.add(entry)
        if now - entry.window_started_at > window:
            entry.failures, entry.window_started_at, entry.locked_until = 0, now, None
        entry.failures += 1
        if entry.failures >= _limit(settings, kind):
            entry.locked_until = now + window
            locked = True
    return locked


def record_success(db: Session, login_id: str, address: str) -> None:
    """A successful login clears the account's counter (not the address's: one good account must not
    let an attacker keep guessing others from the same address)."""
    entry = db.get(LoginThrottle, _keys(login_id, address)[0][1])
    if entry is not None:
        db.delete(entry)
