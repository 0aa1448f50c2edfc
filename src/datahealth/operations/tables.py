"""Tables of survey operations: the mail outbox, notices, reminders, extensions, inquiries, FAQ."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from datahealth.db import Base, UtcDateTime, utcnow


class MailStatus(StrEnum):
    QUEUED = "queued"
    """Waiting for its next attempt (``next_attempt_at``)."""
    SENDING = "sending"
    """Claimed by a worker until ``lease_until``; an expired lease makes it claimable again."""
    SENT = "sent"
    FAILED = "failed"
    """The server refused it permanently (e.g. an unknown recipient); an administrator may retry it."""


class OutboxMessage(Base):
    """One e-mail to one recipient. Written in the transaction that decides to send it, so none is lost."""

    __tablename__ = "ops_outbox"
    __table_args__ = (Index("ix_ops_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    """notice / reminder / extension / inquiry_answer / inquiry_desk."""
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Notice(Base):
    """An in-app notice on a hospital's notice board; ``notice_key`` keeps each notice unique per hospital."""

    __tablename__ = "ops_notices"
    __table_args__ = (UniqueConstraint("organisation_id", "notice_key", name="uq_ops_notices_org_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    notice_key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReminderOffset(Base):
    """Days before a hospital's deadline on which it is reminded (the administrator's schedule)."""

    __tablename__ = "ops_reminder_offsets"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    days_before: Mapped[int] = mapped_column(Integer, primary_key=True)


class ReminderSent(Base):
    """A reminder given to a hospital. The unique constraint, not a check, stops a second copy."""

    __tablename__ = "ops_reminders_sent"
    __table_args__ = (UniqueConstraint("survey_id", "organisation_id", "reminder_key", name="uq_ops_reminders_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    reminder_key: Mapped[str] = mapped_column(String(40))
    """``d7:2025-03-07`` (7 days before that deadline) or ``manual:2025-02-01`` (remind now, that day)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("ops_outbox.id", ondelete="SET NULL"))


class DeadlineExtension(Base):
    """A later deadline for one hospital, or for every target (``organisation_id`` NULL)."""

    __tablename__ = "ops_deadline_extensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    closes_on: Mapped[date] = mapped_column(Date)
    """The new inclusive last day, Japan time."""
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class InquiryCategory(StrEnum):
    OPERATION = "operation"
    """G-MIS のログインや操作に関すること → G-MIS 事務局."""
    CONTENT = "content"
    """調査の内容に関すること → 参事官室."""


class InquiryStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class Inquiry(Base):
    __tablename__ = "ops_inquiries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    question_name: Mapped[str] = mapped_column(String(60), default="")
    category: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=InquiryStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class FaqEntry(Base):
    """A published, anonymised question and answer shown on the survey's FAQ page."""

    __tablename__ = "ops_faq"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    inquiry_id: Mapped[int | None] = mapped_column(ForeignKey("ops_inquiries.id", ondelete="SET NULL"), unique=True)
    category: Mapped[str] = mapped_column(String(20))
    question_name: Mapped[str] = mapped_column(String(60), default="")
    question_text: Mapped[str] = mapped_column(Text)
    answer_text: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
