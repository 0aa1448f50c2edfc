"""Surveys, their target hospitals and the responses."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from datahealth.auth.tables import Organisation
from datahealth.db import Base, UtcDateTime, utcnow


class SurveyStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class ResponseStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class Survey(Base):
    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("survey_key", "version", name="uq_surveys_key_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(40))
    title_ja: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    """Inclusive last day of the period, Japan time."""
    status: Mapped[str] = mapped_column(String(20), default=SurveyStatus.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class SurveyTarget(Base):
    __tablename__ = "survey_targets"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True, index=True)


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("survey_id", "organisation_id", name="uq_responses_survey_org"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ResponseStatus.DRAFT)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    receipt_code: Mapped[str | None] = mapped_column(String(40), unique=True)

    organisation: Mapped[Organisation] = relationship()


class ResponseEvent(Base):
    """Lifecycle history of a response: submitted, reopened."""

    __tablename__ = "response_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
