"""Deadline extensions for every target hospital or for chosen ones.

A hospital's effective deadline is the latest of the survey's own last day, any extension for all
hospitals and any extension for that hospital. The survey service asks for it before every save
and submission, so an extension is respected by autosave and submit alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.errors import Problem, UserError
from datahealth.operations.tables import DeadlineExtension
from datahealth.survey.tables import Survey, SurveyTarget

MAX_REASON = 500


def effective_closes_on(db: Session, survey: Survey, organisation_id: int | None) -> date:
    """The last day (JST, inclusive) on which this hospital may still answer and submit."""
    stmt = select(func.max(DeadlineExtension.closes_on)).where(DeadlineExtension.survey_id == survey.id)
    if organisation_id is None:
        stmt = stmt.where(DeadlineExtension.organisation_id.is_(None))
    else:
        stmt = stmt.where(
            (DeadlineExtension.organisation_id.is_(None)) | (DeadlineExtension.organisation_id == organisation_id)
        )
    extended = db.scalar(stmt)
    return max(survey.closes_on, extended) if extended else survey.closes_on


@dataclass
class Deadlines:
    """Every target's deadline at once: ``default`` for hospitals without their own extension."""

    default: date
    own: dict[int, date] = field(default_factory=dict)

    def get(self, organisation_id: int, fallback: date | None = None) -> date:
        return self.own.get(organisation_id, fallback or self.default)


def deadlines(db: Session, survey: Survey) -> Deadlines:
    for_all = db.scalar(
        select(func.max(DeadlineExtension.closes_on)).where(
            DeadlineExtension.survey_id == survey.id, DeadlineExtension.organisation_id.is_(None)
        )
    )
    default = max(survey.closes_on, for_all) if for_all else survey.closes_on
    own = {
        org_id: max(default, closes)
        for org_id, closes in db.execute(
            select(DeadlineExtension.organisation_id, func.max(DeadlineExtension.closes_on))
            .where(DeadlineExtension.survey_id == survey.id, DeadlineExtension.organisation_id.is_not(None))
            .group_by(DeadlineExtension.organisation_id)
        )
        if org_id is not None
    }
    return Deadlines(default, own)


def resolve_hospitals(db: Session, survey: Survey, codes: Sequence[str]) -> list[tuple[int, str, str | None]]:
    """Target hospitals by 医療機関コード: (id, name, email); an unknown or non-target code is DH-O106."""
    wanted = [c.strip() for c in codes if c.strip()]
    found = {
        code: (org_id, name, email)
        for org_id, code, name, email in db.execute(
            select(Organisation.id, Organisation.code, Organisation.name, Organisation.email)
            .join(SurveyTarget, SurveyTarget.organisation_id == Organisation.id)
            .where(SurveyTarget.survey_id == survey.id, Organisation.code.in_(wanted))
        )
    }
    missing = [code for code in wanted if code not in found]
    if missing:
        raise UserError(*(Problem("DH-O106", {"value": code}, field="hospitals") for code in missing[:20]))
    if not wanted:
        raise UserError(Problem("DH-O106", {"value": ""}, field="hospitals"))
    return [found[code] for code in dict.fromkeys(wanted)]


def extend(
    db: Session,
    survey: Survey,
    closes_on: date,
    *,
    organisation_ids: Sequence[int] | None,
    reason: str,
    user_id: int | None,
    now: datetime,
) -> list[DeadlineExtension]:
    """Record an extension (``organisation_ids`` None = every target); it must move the deadline later."""
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise UserError(Problem("DH-O101", {"maximum": MAX_REASON}, field="reason"))
    targets: Sequence[int | None] = [None] if organisation_ids is None else organisation_ids
    created = []
    for org_id in targets:
        current = effective_closes_on(db, survey, org_id)
        if closes_on <= current:
            raise UserError(
                Problem("DH-O104", {"closes": closes_on.isoformat(), "current": current.isoformat()}, field="closes_on")
            )
        extension = DeadlineExtension(
            survey_id=survey.id,
            organisation_id=org_id,
            closes_on=closes_on,
            reason=reason,
            created_at=now,
            created_by=user_id,
        )
        db.add(extension)
        created.append(extension)
    db.flush()
    return created


def history(db: Session, survey: Survey) -> list[tuple[DeadlineExtension, str | None, str | None]]:
    """Every extension of the survey, newest first, with the hospital's code and name (None = all)."""
    rows = db.execute(
        select(DeadlineExtension, Organisation.code, Organisation.name)
        .outerjoin(Organisation, Organisation.id == DeadlineExtension.organisation_id)
        .where(DeadlineExtension.survey_id == survey.id)
        .order_by(DeadlineExtension.created_at.desc(), DeadlineExtension.id.desc())
    ).all()
    return [(ext, code, name) for ext, code, name in rows]
