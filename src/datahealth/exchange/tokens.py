"""API tokens of the exchange hub: one or more per consortium, stored as SHA-256, shown once, revocable.

A token is ``dhx_`` + 43 URL-safe characters (256 random bits), so a fast hash is enough to store it
(as for session ids, see ``auth.passwords.token_digest``). Only the digest and the first characters
(``prefix``, to tell tokens apart in a list) are kept; the plain text exists only in the response that
created it. A token either belongs to one consortium (it may send and read that consortium's data) or,
with ``consortium_id == ALL_CONSORTIA``, is a researcher's read-only token for every consortium, which
reads aggregates only (``exchange.access``: its record-level reads answer 404).

Tokens never appear in logs or error messages. The caller owns the transaction: this module only flushes.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from datahealth.auth.passwords import token_digest
from datahealth.errors import NotAuthenticated, NotFound, Problem, UserError
from datahealth.exchange.tables import ApiToken

TOKEN_PREFIX = "dhx_"  # noqa: S105  (a public marker that tells tokens apart, not a secret)  # nosec B105
PREFIX_LENGTH = 12
"""Characters kept in clear (``dhx_`` + 8): enough to recognise a token, far too few to guess it."""
ALL_CONSORTIA = "*"
"""``consortium_id`` of a read-only token that reads aggregates of every consortium (researchers)."""
NAME_MAX = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most once a minute per token (a write per read would serialise readers)."""


def new_plaintext() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    db: Session, consortium_id: str, name: str, created_by: int | None, now: datetime
) -> tuple[ApiToken, str]:
    """A new token for ``consortium_id`` (or ``ALL_CONSORTIA``); returns the row and its plain text (once)."""
    label = " ".join(name.split())
    if not label or len(label) > NAME_MAX:
        raise UserError(Problem("DH-X307", {"field": "name / 名前", "maximum": NAME_MAX}, field="name"))
    plaintext = new_plaintext()
    token = ApiToken(
        consortium_id=consortium_id,
        name=label,
        token_hash=token_digest(plaintext),
        prefix=plaintext[:PREFIX_LENGTH],
        created_at=now,
        created_by=created_by,
    )
    db.add(token)
    db.flush()
    return token, plaintext


def authenticate_token(db: Session, plaintext: str, now: datetime) -> str:
    """The consortium ID (or ``ALL_CONSORTIA``) of a live token; raises ``NotAuthenticated`` (DH-X301)."""
    return authenticate(db, plaintext, now).consortium_id


def authenticate(db: Session, plaintext: str, now: datetime) -> ApiToken:
    """The live token row for ``plaintext``, with ``last_used_at`` refreshed; DH-X301 otherwise."""
    candidate = plaintext.strip()
    if not candidate.startswith(TOKEN_PREFIX) or len(candidate) > 200:
        raise NotAuthenticated(Problem("DH-X301"))
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(candidate)))
    if token is None or token.revoked_at is not None:
        raise NotAuthenticated(Problem("DH-X301"))
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token


def revoke_token(db: Session, token_id: int, consortium_id: str | None, now: datetime) -> None:
    """Revoke a token of ``consortium_id`` (``None``: any token, for the secretariat). Revoking twice is a no-op.

    A token of another consortium looks exactly like one that does not exist (404).
    """
    token = db.get(ApiToken, token_id)
    if token is None or (consortium_id is not None and token.consortium_id != consortium_id):
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = now
        db.flush()


def list_tokens(db: Session, consortium_id: str | None, *, created_by: int | None = None) -> list[ApiToken]:
    """Tokens of one consortium (``None``: all), newest first; optionally only those one user created."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    if consortium_id is not None:
        query = query.where(ApiToken.consortium_id == consortium_id)
    if created_by is not None:
        query = query.where(ApiToken.created_by == created_by)
    return list(db.scalars(query))
