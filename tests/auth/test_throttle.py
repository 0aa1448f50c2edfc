"""Login throttling per account and per address; unknown accounts are throttled like real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

import factories as f
from datahealth.auth.service import LoginOutcome, attempt_login

NOW = datetime(2025, 2, 1, 3, tzinfo=UTC)
SETTINGS = f.KEY_SETTINGS.model_copy(
    update={"login_max_failures_per_account": 3, "login_max_failures_per_address": 5, "login_throttle_minutes": 15}
)


def test_account_locks_after_failures_even_with_the_right_password(db: Session):
    f.make_user(db, f.make_org(db), "h1")
    for _ in range(3):
        assert attempt_login(db, SETTINGS, "h1", "wrong", "10.0.0.1", NOW).outcome == LoginOutcome.BAD_CREDENTIALS
    locked = attempt_login(db, SETTINGS, "h1", f.PASSWORD, "10.0.0.2", NOW + timedelta(minutes=1))
    assert locked.outcome == LoginOutcome.LOCKED and locked.lock_minutes == 15
    later = attempt_login(db, SETTINGS, "h1", f.PASSWORD, "10.0.0.2", NOW + timedelta(minutes=16))
    assert later.outcome == LoginOutcome.OK


def test_unknown_accounts_are_throttled_too(db: Session):
    for _ in range(3):
        attempt_login(db, SETTINGS, "nobody", "guess", "10.0.0.1", NOW)
    assert attempt_login(db, SETTINGS, "nobody", "guess", "10.0.0.9", NOW).outcome == LoginOutcome.LOCKED


def test_address_locks_across_accounts(db: Session):
    org = f.make_org(db)
    f.make_user(db, org, "real")
    for index in range(5):
        attempt_login(db, SETTINGS, f"user{index}", "guess", "192.0.2.7", NOW)
    assert attempt_login(db, SETTINGS, "real", f.PASSWORD, "192.0.2.7", NOW).outcome == LoginOutcome.LOCKED
    assert attempt_login(db, SETTINGS, "real", f.PASSWORD, "192.0.2.8", NOW).outcome == LoginOutcome.OK


def test_success_resets_the_account_counter(db: Session):
    f.make_user(db, f.make_org(db), "h1")
    for _ in range(2):
        attempt_login(db, SETTINGS, "h1", "wrong", "10.0.0.1", NOW)
    assert attempt_login(db, SETTINGS, "h1", f.PASSWORD, "10.0.0.1", NOW).outcome == LoginOutcome.OK
    for _ in range(2):
        attempt_login(db, SETTINGS, "h1", "wrong", "10.0.0.1", NOW)
    assert attempt_login(db, SETTINGS, "h1", f.PASSWORD, "10.0.0.1", NOW).outcome == LoginOutcome.OK
