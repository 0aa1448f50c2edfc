"""Password hashing (argon2id) and policy."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        # Spend the same effort as a real check so that timing does not reveal unknown accounts.
        _HASHER.hash(password)
        return False
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_activation_code() -> str:
    """A one-time code a person can type: 4 groups of 4 from an unambiguous alphabet (~80 bits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def token_digest(token: str) -> str:
    """SHA-256 of a high-entropy random token (session ids); a fast hash suffices at that entropy."""
    return hashlib.sha256(token.encode()).hexdigest()


def activation_digest(code: str) -> str:
    """SHA-256 of an activation code, forgiving case, spaces and hyphens as typed."""
    normalised = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()
