"""In-app notices on the hospital's notice board, and the announcement when a survey opens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.errors import NotFound
from datahealth.operations import extensions, messages, outbox
from datahealth.operations.tables import Notice
from datahealth.survey.service import definition_of
from datahealth.survey.tables import Survey, SurveyTarget

_CHUNK = 1000


@dataclass
class Announcement:
    notices: int = 0
    emails: int = 0
    without_address: int = 0
    already: int = 0


def add_notices(db: Session, rows: list[dict[str, object]], now: datetime) -> int:
    """Insert notices whose (hospital, key) is new; returns how many were added."""
    if not rows:
        return 0
    added = 0
    by_key: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_key.setdefault(str(row["notice_key"]), []).append(row)
    for key, group in by_key.items():
        org_ids = [int(str(row["organisation_id"])) for row in group]
        existing: set[int] = set()
        for start in range(0, len(org_ids), _CHUNK):
            existing.update(
                db.scalars(
                    select(Notice.organisation_id).where(
                        Notice.notice_key == key, Notice.organisation_id.in_(org_ids[start : start + _CHUNK])
                    )
                )
            )
        fresh = [{"created_at": now, **row} for row in group if row["organisation_id"] not in existing]
        for start in range(0, len(fresh), _CHUNK):
            db.execute(insert(Notice), fresh[start : start + _CHUNK])
        added += len(fresh)
    return added


def _tell(
    db: Session,
    survey: Survey,
    key: str,
    kind: tuple[str, str],
    targets: Sequence[tuple[int, str, str | None]],
    compose: Callable[[int, str], messages.Text],
    now: datetime,
) -> Announcement:
    """A notice (``kind[0]``) for each target and an e-mail (``kind[1]``) to each one with an address."""
    result = Announcement()
    notice_rows: list[dict[str, object]] = []
    mail_rows: list[dict[str, object]] = []
    for org_id, name, email in targets:
        text = compose(org_id, name)
        notice_rows.append(
            {
                "organisation_id": org_id,
                "survey_id": survey.id,
                "notice_key": key,
                "kind": kind[0],
                "title": text.subject,
                "body": text.body,
                "link": f"/surveys/{survey.id}",
            }
        )
        if email:
            mail_rows.append(
                {
                    "kind": kind[1],
                    "to_address": email,
                    "subject": text.subject,
                    "body": text.body,
                    "survey_id": survey.id,
                    "organisation_id": org_id,
                }
            )
        else:
            result.without_address += 1
    result.notices = add_notices(db, notice_rows, now)
    for start in range(0, len(mail_rows), _CHUNK):
        outbox.enqueue_many(db, mail_rows[start : start + _CHUNK], now)
    result.emails = len(mail_rows)
    return result


def _targets(db: Session, survey: Survey) -> Select[int, str, str | None]:
    return (
        select(Organisation.id, Organisation.name, Organisation.email)
        .join(SurveyTarget, SurveyTarget.organisation_id == Organisation.id)
        .where(SurveyTarget.survey_id == survey.id)
        .order_by(Organisation.id)
    )


def announce_open(db: Session, survey: Survey, base_url: str, now: datetime) -> Announcement:
    """Notify every target hospital that the survey is open: a notice each and an e-mail to its address.

    Idempotent: a hospital already told about this survey's opening (closing and reopening, or a
    hospital imported later) is not told again.
    """
    defn = definition_of(survey)
    key = f"survey:{survey.id}:open"
    told = select(Notice.organisation_id).where(Notice.notice_key == key)
    targets = [(i, n, e) for i, n, e in db.execute(_targets(db, survey).where(Organisation.id.not_in(told)))]
    deadlines = extensions.deadlines(db, survey)

    def compose(org_id: int, name: str) -> messages.Text:
        return messages.survey_opened(defn, name, survey.opens_on, deadlines.get(org_id), base_url, survey.id)

    return _tell(db, survey, key, ("survey_open", "notice"), targets, compose, now)


def board(db: Session, organisation_id: int, limit: int = 200) -> list[Notice]:
    """The hospital's notices, newest first."""
    return list(
        db.scalars(
            select(Notice)
            .where(Notice.organisation_id == organisation_id)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )


def unread_count(db: Session, organisation_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Notice)
            .where(Notice.organisation_id == organisation_id, Notice.read_at.is_(None))
        )
        or 0
    )


def open_notice(db: Session, organisation_id: int, notice_id: int, now: datetime) -> Notice:
    """A hospital's own notice (else 404), marked read on first opening."""
    notice = db.get(Notice, notice_id)
    if notice is None or notice.organisation_id != organisation_id:
        raise NotFound()
    if notice.read_at is None:
        notice.read_at = now
    return notice


def mark_all_read(db: Session, organisation_id: int, now: datetime) -> int:
    result = db.execute(
        update(Notice)
        .where(Notice.organisation_id == organisation_id, Notice.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def announce_extension(
    db: Session,
    survey: Survey,
    closes_on: date,
    organisation_ids: list[int] | None,
    reason: str,
    base_url: str,
    now: datetime,
) -> Announcement:
    """Tell the hospitals concerned (all targets when ``organisation_ids`` is None) their new deadline."""
    defn = definition_of(survey)
    stmt = _targets(db, survey)
    if organisation_ids is not None:
        stmt = stmt.where(Organisation.id.in_(organisation_ids))
    targets = [(i, n, e) for i, n, e in db.execute(stmt)]

    def compose(_org_id: int, name: str) -> messages.Text:
        return messages.extended(defn, name, closes_on, reason, base_url, survey.id)

    key = f"survey:{survey.id}:extended:{closes_on.isoformat()}"
    return _tell(db, survey, key, ("extension", "extension"), targets, compose, now)
