"""TOTP two-factor login (RFC 6238, 30-second steps, 6 digits) with replay protection and recovery codes.

The TOTP secret is stored encrypted (Fernet, key derived from the settings' secret key), so a copy of
the database alone does not yield working second factors. A code is accepted for the current step and
one step either side (clock drift), and never for a step at or before the last accepted one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from datahealth.auth.tables import RecoveryCode, User
from datahealth.config import Settings

ISSUER = "datahealth"
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10


def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(b"datahealth/totp/v1|" + settings.effective_secret_key()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, stored: str) -> str | None:
    try:
        return _fernet(settings).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


def seal_setup(settings: Settings, user_id: int, secret: str) -> str:
    """A not-yet-confirmed secret travels in the set-up form, encrypted and bound to the user."""
    return _fernet(settings).encrypt(json.dumps({"u": user_id, "s": secret}).encode()).decode()


def open_setup(settings: Settings, user_id: int, token: str, ttl_seconds: int) -> str | None:
    try:
        payload = json.loads(_fernet(settings).decrypt(token.encode(), ttl=ttl_seconds))
    except (InvalidToken, ValueError):
        return None
    return str(payload["s"]) if isinstance(payload, dict) and payload.get("u") == user_id else None


def enrol(settings: Settings, user: User, secret: str, now: datetime, step: int | None = None) -> None:
    """Turn on two-factor login with ``secret`` (stored encrypted); ``step`` is the code already used, if any."""
    user.totp_secret = encrypt_secret(settings, secret)
    user.totp_enabled_at = now
    user.totp_last_step = step


def provisioning_uri(secret: str, login_id: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login_id, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code (no external image, CSP-safe)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    text = buffer.getvalue().decode()
    return text[text.index("<svg") :]


def _normalise(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit() and ch.isascii())


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals ``code`` (within the allowed drift), or ``None``."""
    digits = _normalise(code)
    if len(digits) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), digits):
            return step
    return None


def verify(settings: Settings, user: User, code: str, now: datetime) -> bool:
    """Accept a code once: the user's last accepted step moves forward, so a replay fails."""
    if not user.totp_secret:
        return False
    secret = decrypt_secret(settings, user.totp_secret)
    if secret is None:
        return False
    step = matching_step(secret, code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        return False
    user.totp_last_step = step
    return True


def recovery_digest(code: str) -> str:
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def new_recovery_codes(db: Session, user: User, now: datetime) -> list[str]:
    """Replace the user's recovery codes with ten new ones (shown once; only hashes are stored)."""
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    db.add_all(RecoveryCode(user_id=user.id, code_hash=recovery_digest(code), created_at=now) for code in codes)
    return codes


def clear_recovery_codes(db: Session, user: User) -> None:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def use_recovery_code(db: Session, user: User, code: str, now: datetime) -> bool:
    digest = recovery_digest(code)
    for stored in db.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ):
        if hmac.compare_digest(stored.code_hash, digest):
            stored.used_at = now
            return True
    return False


def remaining_recovery_codes(db: Session, user: User) -> int:
    return len(
        db.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all()
    )
