"""Reminders to hospitals that have not submitted: on the administrator's schedule, or right now.

The schedule is a set of offsets in days before each hospital's effective deadline (e.g. 14, 7, 3, 1).
On any day the reminder due is the one with the smallest offset not yet passed — a worker that was
stopped for a week sends the latest reminder once, not every missed one. Each reminder is recorded in
``ops_reminders_sent`` whose unique (survey, hospital, reminder key) constraint makes a second copy
impossible even when two workers (or a worker and a "remind now") race.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.clock import jst_date
from datahealth.errors import Conflict, Problem, UserError
from datahealth.operations import extensions, messages, outbox
from datahealth.operations.notices import add_notices
from datahealth.operations.tables import ReminderOffset, ReminderSent
from datahealth.survey import progress
from datahealth.survey.service import definition_of
from datahealth.survey.tables import Response, ResponseStatus, Survey, SurveyStatus, SurveyTarget

MAX_OFFSET = 60
_CHUNK = 500
MAX_OFFSETS = 10


def parse_offsets(text: str) -> list[int]:
    """``"14, 7, 3, 1"`` (full-width digits and 、 accepted) → [14, 7, 3, 1]; else DH-O105."""
    import unicodedata

    cleaned = unicodedata.normalize("NFKC", text).replace("、", ",").replace(" ", ",")
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in cleaned.split(","))):
        if not part.isdigit() or not 0 <= int(part) <= MAX_OFFSET:
            raise UserError(Problem("DH-O105", {"value": part, "maximum": MAX_OFFSET}, field="offsets"))
        days.add(int(part))
    if len(days) > MAX_OFFSETS:
        raise UserError(Problem("DH-O105", {"value": text[:40], "maximum": MAX_OFFSET}, field="offsets"))
    return sorted(days, reverse=True)


def set_offsets(db: Session, survey: Survey, days: Iterable[int]) -> list[int]:
    wanted = sorted(set(days), reverse=True)
    db.execute(delete(ReminderOffset).where(ReminderOffset.survey_id == survey.id))
    if wanted:
        db.execute(insert(ReminderOffset), [{"survey_id": survey.id, "days_before": d} for d in wanted])
    return wanted


def offsets(db: Session, survey_id: int) -> list[int]:
    return list(
        db.scalars(
            select(ReminderOffset.days_before)
            .where(ReminderOffset.survey_id == survey_id)
            .order_by(ReminderOffset.days_before.desc())
        )
    )


def due_offset(schedule: list[int], today: date, deadline: date) -> int | None:
    """The reminder due today: the smallest offset ≥ days left (None before the first one or after the end)."""
    days_left = (deadline - today).days
    if days_left < 0:
        return None
    candidates = [d for d in schedule if d >= days_left]
    return min(candidates) if candidates else None


@dataclass
class ReminderRun:
    reminded: int = 0
    emails: int = 0
    already: int = 0
    without_address: int = 0


@dataclass(frozen=True)
class _Candidate:
    organisation_id: int
    name: str
    email: str | None
    status: str
    deadline: date
    key: str
    days_left: int


def _record_new(db: Session, survey_id: int, candidates: list[_Candidate], now: datetime) -> dict[int, int]:
    """Insert the (survey, hospital, key) rows that do not exist yet; {hospital: reminder id} of those inserted.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING``: the unique constraint decides, so a concurrent worker
    or "remind now" can never add a second copy (PostgreSQL waits for the other insert, then skips it).
    """
    dialect = db.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    inserted: dict[int, int] = {}
    for start in range(0, len(candidates), _CHUNK):
        rows = [
            {"survey_id": survey_id, "organisation_id": c.organisation_id, "reminder_key": c.key, "created_at": now}
            for c in candidates[start : start + _CHUNK]
        ]
        stmt = (
            upsert(ReminderSent)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["survey_id", "organisation_id", "reminder_key"])
            .returning(ReminderSent.id, ReminderSent.organisation_id)
        )
        inserted.update({org_id: reminder_id for reminder_id, org_id in db.execute(stmt)})
    return inserted


def _give(db: Session, survey: Survey, base_url: str, now: datetime, candidates: list[_Candidate]) -> ReminderRun:
    """Record and send each reminder whose (survey, hospital, key) is new; skip the rest."""
    run = ReminderRun()
    if not candidates:
        return run
    defn = definition_of(survey)
    inserted = _record_new(db, survey.id, candidates, now)
    run.already = len(candidates) - len(inserted)
    notices: list[dict[str, object]] = []
    mails: list[dict[str, object]] = []
    for c in candidates:
        if c.organisation_id not in inserted:
            continue
        text = messages.reminder(defn, c.name, c.deadline, c.days_left, c.status, base_url, survey.id)
        notices.append(
            {
                "organisation_id": c.organisation_id,
                "survey_id": survey.id,
                "notice_key": f"survey:{survey.id}:reminder:{c.key}",
                "kind": "reminder",
                "title": text.subject,
                "body": text.body,
                "link": f"/surveys/{survey.id}",
            }
        )
        run.reminded += 1
        if c.email:
            mails.append(
                {
                    "kind": "reminder",
                    "to_address": c.email,
                    "subject": text.subject,
                    "body": text.body,
                    "survey_id": survey.id,
                    "organisation_id": c.organisation_id,
                }
            )
        else:
            run.without_address += 1
    add_notices(db, notices, now)
    links: list[dict[str, object]] = []
    for start in range(0, len(mails), _CHUNK):
        for outbox_id, org_id in outbox.enqueue_many(db, mails[start : start + _CHUNK], now):
            if org_id is not None:
                links.append({"id": inserted[org_id], "outbox_id": outbox_id})
    if links:
        db.execute(update(ReminderSent), links)  # bulk update by primary key: which e-mail carried it
    run.emails = len(mails)
    return run


def _non_submitted(db: Session, survey: Survey) -> list[tuple[int, str, str | None, str]]:
    rows = db.execute(
        select(Organisation.id, Organisation.name, Organisation.email, Response.status)
        .select_from(SurveyTarget)
        .join(Organisation, Organisation.id == SurveyTarget.organisation_id)
        .outerjoin(
            Response,
            and_(
                Response.survey_id == SurveyTarget.survey_id, Response.organisation_id == SurveyTarget.organisation_id
            ),
        )
        .where(
            SurveyTarget.survey_id == survey.id,
            or_(Response.id.is_(None), Response.status != ResponseStatus.SUBMITTED),
        )
        .order_by(Organisation.id)
    ).all()
    return [(org_id, name, email, "draft" if status else "not_started") for org_id, name, email, status in rows]


def run_scheduled(db: Session, survey: Survey, base_url: str, now: datetime) -> ReminderRun:
    """Give today's scheduled reminder to every non-submitted target of an open survey."""
    schedule = offsets(db, survey.id)
    if survey.status != SurveyStatus.OPEN or not schedule:
        return ReminderRun()
    today = jst_date(now)
    if today < survey.opens_on:
        return ReminderRun()
    limits = extensions.deadlines(db, survey)
    candidates = []
    for org_id, name, email, status in _non_submitted(db, survey):
        deadline = limits.get(org_id)
        offset = due_offset(schedule, today, deadline)
        if offset is not None:
            key = f"d{offset}:{deadline.isoformat()}"
            candidates.append(_Candidate(org_id, name, email, status, deadline, key, (deadline - today).days))
    return _give(db, survey, base_url, now, candidates)


def run_all_scheduled(db: Session, base_url: str, now: datetime) -> dict[int, ReminderRun]:
    """Scheduled reminders of every open survey that has a schedule."""
    surveys = db.scalars(
        select(Survey)
        .where(Survey.status == SurveyStatus.OPEN, Survey.id.in_(select(ReminderOffset.survey_id)))
        .order_by(Survey.id)
    ).all()
    return {survey.id: run_scheduled(db, survey, base_url, now) for survey in surveys}


def remind_now(
    db: Session,
    survey: Survey,
    base_url: str,
    now: datetime,
    *,
    prefecture: int | None = None,
    band: str | None = None,
    status: str | None = None,
) -> ReminderRun:
    """Remind the non-submitted targets matching the filters now (at most once per hospital per day)."""
    if survey.status != SurveyStatus.OPEN:
        raise Conflict.of("DH-O109", status=survey.status)
    if status not in (None, "draft", "not_started"):
        raise UserError(Problem("DH-O105", {"value": status, "maximum": MAX_OFFSET}, field="status"))
    today = jst_date(now)
    limits = extensions.deadlines(db, survey)
    candidates: list[_Candidate] = []
    key = f"manual:{today.isoformat()}"
    offset = 0
    while True:
        page, total = progress.non_responders(
            db, survey.id, prefecture=prefecture, band=band, limit=progress.MAX_LIMIT, offset=offset
        )
        for row in page:
            if status is not None and row.status != status:
                continue
            deadline = limits.get(row.organisation_id)
            if deadline < today:
                continue
            candidates.append(
                _Candidate(row.organisation_id, row.name, None, row.status, deadline, key, (deadline - today).days)
            )
        offset += len(page)
        if not page or offset >= total:
            break
    emails = dict(
        db.execute(
            select(Organisation.id, Organisation.email).where(
                Organisation.id.in_(select(SurveyTarget.organisation_id).where(SurveyTarget.survey_id == survey.id))
            )
        ).all()
    )
    candidates = [
        _Candidate(c.organisation_id, c.name, emails.get(c.organisation_id), c.status, c.deadline, c.key, c.days_left)
        for c in candidates
    ]
    return _give(db, survey, base_url, now, candidates)


def sent_counts(db: Session, survey_id: int) -> list[tuple[str, int]]:
    """How many hospitals got each reminder (by key), for the administrator's page."""
    from sqlalchemy import func

    return [
        (key, count)
        for key, count in db.execute(
            select(ReminderSent.reminder_key, func.count())
            .where(ReminderSent.survey_id == survey_id)
            .group_by(ReminderSent.reminder_key)
            .order_by(func.min(ReminderSent.created_at).desc())
        )
    ]
