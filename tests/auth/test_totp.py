"""TOTP: codes of the right step only, never twice; encrypted at rest; recovery codes work once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy.orm import Session

import factories as f
from datahealth.auth import totp
from datahealth.auth.tables import RecoveryCode

NOW = datetime(2025, 2, 1, 3, 0, 15, tzinfo=UTC)


def test_secret_is_encrypted_at_rest(db: Session):
    user = f.make_user(db, f.make_org(db), "h1", two_factor=True)
    assert f.TOTP_SECRET not in (user.totp_secret or "")
    assert totp.decrypt_secret(f.KEY_SETTINGS, user.totp_secret or "") == f.TOTP_SECRET
    other_key = f.KEY_SETTINGS.model_copy(update={"secret_key": f.SecretStr("another key")})
    assert totp.decrypt_secret(other_key, user.totp_secret or "") is None


def test_code_accepted_once_with_one_step_of_drift(db: Session):
    user = f.make_user(db, f.make_org(db), "h1", two_factor=True)
    code = pyotp.TOTP(f.TOTP_SECRET).at(NOW)
    assert totp.verify(f.KEY_SETTINGS, user, code, NOW)
    assert not totp.verify(f.KEY_SETTINGS, user, code, NOW)  # replay
    later = NOW + timedelta(seconds=30)
    assert not totp.verify(f.KEY_SETTINGS, user, pyotp.TOTP(f.TOTP_SECRET).at(NOW), later)  # the used step
    assert totp.verify(f.KEY_SETTINGS, user, pyotp.TOTP(f.TOTP_SECRET).at(later), later)
    far = NOW + timedelta(minutes=5)
    assert not totp.verify(f.KEY_SETTINGS, user, pyotp.TOTP(f.TOTP_SECRET).at(NOW + timedelta(minutes=2)), far)
    assert not totp.verify(f.KEY_SETTINGS, user, "12345", far)


def test_recovery_codes_are_hashed_and_single_use(db: Session):
    user = f.make_user(db, f.make_org(db), "h1", two_factor=True)
    codes = totp.new_recovery_codes(db, user, NOW)
    db.flush()
    assert len(set(codes)) == 10
    stored = db.query(RecoveryCode).filter_by(user_id=user.id).all()
    assert all(code not in {row.code_hash for row in stored} for code in codes)
    assert totp.use_recovery_code(db, user, codes[3].upper(), NOW)  # forgiving of case
    assert not totp.use_recovery_code(db, user, codes[3], NOW)
    assert totp.remaining_recovery_codes(db, user) == 9
    renewed = totp.new_recovery_codes(db, user, NOW)
    assert not totp.use_recovery_code(db, user, codes[0], NOW)  # old codes are gone
    assert totp.use_recovery_code(db, user, renewed[0], NOW)


def test_setup_token_is_bound_to_the_user_and_expires():
    token = totp.seal_setup(f.KEY_SETTINGS, 7, "ABCDEF")
    assert totp.open_setup(f.KEY_SETTINGS, 7, token, 60) == "ABCDEF"
    assert totp.open_setup(f.KEY_SETTINGS, 8, token, 60) is None
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    assert totp.open_setup(f.KEY_SETTINGS, 7, tampered, 60) is None
