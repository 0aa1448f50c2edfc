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
    """Researcher / ministry analyst: reads the exchange data of every consortium, changes nothing."""


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

    organisation: Mapped[Organisation] = relationship(back_populates="users")


class WebSession(Base):
    """A server-side login session; the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()
