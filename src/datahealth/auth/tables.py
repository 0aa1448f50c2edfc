"""Organisations, users and server-side sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datahealth.db import Base, UtcDateTime, utcnow


class OrgKind(StrEnum):
    MINISTRY = "ministry"
    HOSPITAL = "hospital"
    CONSORTIUM = "consortium"
    INSURER = "insurer"


class Role(StrEnum):
    ADMIN = "admin"
    """Ministry survey administrator: sees and manages everything."""
    HOSPITAL = "hospital"
    """Hospital staff: sees and changes only its own hospital's responses."""
    CONSORTIUM = "consortium"
    """PHR consortium operator: sends and reads only its own consortium's participants' data."""
    RESEARCHER = "researcher"
    """Researcher / ministry analyst: reads aggregates of every consortium's exchange data (no records,
    see ``exchange.access``), changes nothing."""
    INSURER = "insurer"
    """Health insurer (保険者) staff: for now only their own account pages; no hospital or consortium data."""


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("kind", "code", name="uq_organisations_kind_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(20))
    """For a hospital, the 10-digit 医療機関コード (prefecture 2 + point table 1 + 7 digits)."""
    name: Mapped[str] = mapped_column(String(200))
    prefecture_code: Mapped[int | None] = mapped_column(Integer)
    bed_count: Mapped[int | None] = mapped_column(Integer)
    founder_type: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2id hash; empty until the account is activated with its one-time code."""
    activation_code_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the one-time activation code (high-entropy, so a fast hash is enough)."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(5), default="ja")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    """The TOTP secret, encrypted with the settings' secret key (Fernet); empty until enrolled."""
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    """The last accepted TOTP time step: a code of that step or earlier is a replay and is refused."""

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class SessionStage(StrEnum):
    FULL = "full"
    """Logged in."""
    SECOND_FACTOR = "second_factor"
    """Password accepted; the TOTP or a recovery code is still needed."""
    ENROLL = "enroll"
    """Password accepted; this role must set up two-factor login before doing anything else."""


class WebSession(Base):
    """A server-side login session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stage: Mapped[str] = mapped_column(String(20), default=SessionStage.FULL)
    reauth_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the person last re-entered their credentials (exports and account changes need it recent)."""

    user: Mapped[User] = relationship()


class RecoveryCode(Base):
    """A one-time recovery code for two-factor login; only its SHA-256 is kept."""

    __tablename__ = "auth_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Failed logins counted per account and per client address within a window."""

    __tablename__ = "auth_login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    """``account:<login id>`` or ``address:<ip>``."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
