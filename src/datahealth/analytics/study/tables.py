"""Studies in the database: the definition (validated YAML kept as JSON) and the allocation of participants.

Stored as data rather than files so that a report names exactly what it analysed (the definition and
allocation as registered, with the time), and the allocation can be generated once and never redrawn.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from datahealth.db import Base, UtcDateTime, utcnow


class Study(Base):
    __tablename__ = "study_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``StudyDefinition.model_dump(mode="json")``."""
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(100), default="")
    allocation_source: Mapped[str] = mapped_column(String(200), default="")
    """``generated seed=N`` or the allocation file's name."""


class StudyAllocation(Base):
    """One participant's arm (the stratum is derived from the registry at analysis time)."""

    __tablename__ = "study_allocations"
    __table_args__ = (UniqueConstraint("study_id", "consortium_id", "participant_id", name="uq_study_allocations"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study_definitions.id", ondelete="CASCADE"), index=True)
    consortium_id: Mapped[str] = mapped_column(String(10))
    participant_id: Mapped[str] = mapped_column(String(20))
    arm: Mapped[str] = mapped_column(String(40))
