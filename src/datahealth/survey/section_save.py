"""Saving one section of a hospital's answers: an autosave's whole database work in one short transaction.

In the last hour of the period every hospital autosaves every few seconds (issue 4: ≥ 300 saves/s on two
cores), so this path uses a handful of Core statements instead of the ORM's unit of work:

1. the idempotency key is claimed (on SQLite this first write also takes the database's write lock);
2. one query reads the survey's period, the hospital's target row, its deadline extension and its response,
   locking the response row (PostgreSQL ``FOR UPDATE``);
3. the answers are merged and pruned in Python, with the same rules as ``service.save_draft``;
4. the response is updated when anything changed, and the audit event is appended.

On PostgreSQL 1 and 2 are one statement, and so are 4's update and event (sealed at commit by the database):
with the session's lookup a save is three statements and its commit.

A hospital's first save (no response row yet) creates the row through ``service.own_response`` once.
Anything the hospital may not see is :class:`NotFound`, as on every hospital page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal, select, true, update
from sqlalchemy.orm import Session

from datahealth import idempotency
from datahealth.audit import log as audit
from datahealth.auth.service import Principal
from datahealth.db import table_of
from datahealth.errors import NotFound, Problem
from datahealth.hot_sql import HotStatement
from datahealth.operations.tables import DeadlineExtension
from datahealth.survey import service
from datahealth.survey.answers import draft_problems, relevant_names
from datahealth.survey.model import Answers, Section, SurveyDefinition
from datahealth.survey.tables import Response, Survey, SurveyStatus, SurveyTarget

SAVE_SCOPE = "survey.save"
"""The idempotency scope of section saves (autosave and the form's save buttons)."""

ReadForm = Callable[[SurveyDefinition, Section], tuple[list[str], dict[str, str | list[str]]]]
"""Given the definition and the section, the posted form's shown question names and values by name."""


@dataclass(frozen=True)
class SurveyHeader:
    """The columns of a survey row a save needs (not its definition: that comes from the cache)."""

    id: int
    survey_key: str
    version: str
    updated_at: datetime
    status: str
    opens_on: date
    closes_on: date


@dataclass(frozen=True)
class SectionSaved:
    survey: SurveyHeader
    defn: SurveyDefinition
    index: int
    shown: list[str]
    problems: list[Problem]
    answers: Answers
    relevant: set[str]
    saved_at: datetime
    response_id: int
    applied: bool
    """False when the idempotency key had been used already: a retry, nothing was changed."""


# The statements are built once: building one costs more CPU than running it (the ORM's unit of work more still).
_SURVEYS, _TARGETS, _RESPONSES = table_of(Survey), table_of(SurveyTarget), table_of(Response)
_EXTENSIONS = table_of(DeadlineExtension)
_SURVEY, _ORGANISATION = bindparam("survey", type_=Integer), bindparam("organisation", type_=Integer)
_EXTENDED = (
    select(func.max(_EXTENSIONS.c.closes_on))
    .where(
        _EXTENSIONS.c.survey_id == _SURVEYS.c.id,
        _EXTENSIONS.c.organisation_id.is_(None) | (_EXTENSIONS.c.organisation_id == _ORGANISATION),
    )
    .scalar_subquery()
)
_LOCKED_ROW = (
    select(
        _SURVEYS.c.id,
        _SURVEYS.c.survey_key,
        _SURVEYS.c.version,
        _SURVEYS.c.updated_at,
        _SURVEYS.c.status,
        _SURVEYS.c.opens_on,
        _SURVEYS.c.closes_on,
        _EXTENDED,
        _RESPONSES.c.id,
        _RESPONSES.c.status,
        _RESPONSES.c.answers,
        _RESPONSES.c.updated_at,
    )
    .select_from(_SURVEYS)
    .join(_TARGETS, (_TARGETS.c.survey_id == _SURVEYS.c.id) & (_TARGETS.c.organisation_id == _ORGANISATION))
    .join(_RESPONSES, (_RESPONSES.c.survey_id == _SURVEYS.c.id) & (_RESPONSES.c.organisation_id == _ORGANISATION))
    .where(_SURVEYS.c.id == _SURVEY, _SURVEYS.c.status != SurveyStatus.DRAFT.value)
    .with_for_update(of=_RESPONSES)  # PostgreSQL; SQLite already holds its write lock
)
_LOCKED_ROW_HOT = HotStatement(_LOCKED_ROW)
_UPDATE_ANSWERS = HotStatement(
    update(_RESPONSES)
    .where(_RESPONSES.c.id == bindparam("response", type_=Integer))
    .values(revision=_RESPONSES.c.revision + 1),
    column_keys=["answers", "updated_at", "updated_by"],
)

# PostgreSQL, one round trip each: the key's claim with the locked read (the read is a LATERAL subquery left-joined
# to one row, so the claim's outcome comes back also when the hospital has no response yet), and the update of the
# answers with the audit event (a data-modifying WITH runs whether or not its result is read).
_CLAIMED = idempotency.claim_cte("claimed")
_LOCKED = _LOCKED_ROW.lateral("locked")
_CLAIM_AND_LOCK = HotStatement(
    select(select(func.count()).select_from(_CLAIMED).scalar_subquery(), *_LOCKED.c).select_from(
        select(literal(1).label("one")).subquery("one").outerjoin(_LOCKED, true())
    )
)
_AUDIT_PREFIX = "audit_"
_UPDATE_AND_AUDIT = HotStatement(
    audit.pending_insert(_AUDIT_PREFIX).add_cte(
        update(_RESPONSES)
        .where(_RESPONSES.c.id == bindparam("response", type_=Integer))
        .values(
            revision=_RESPONSES.c.revision + 1,
            answers=bindparam("answers", type_=_RESPONSES.c.answers.type),
            updated_at=bindparam("updated_at", type_=_RESPONSES.c.updated_at.type),
            updated_by=bindparam("updated_by", type_=_RESPONSES.c.updated_by.type),
        )
        .cte("saved")
    )
)
_TOUCH_RESPONSE = (
    update(_RESPONSES)
    .where(_RESPONSES.c.survey_id == _SURVEY, _RESPONSES.c.organisation_id == _ORGANISATION)
    .values(id=_RESPONSES.c.id)
)
_DEFINITION = select(_SURVEYS.c.definition).where(_SURVEYS.c.id == _SURVEY)


def save_section(
    db: Session,
    principal: Principal,
    survey_id: int,
    section_name: str,
    read_form: ReadForm,
    *,
    idempotency_key: str | None,
    now: datetime,
    address: str,
) -> SectionSaved:
    """Save the posted answers of one section for the principal's hospital, in the caller's transaction."""
    postgresql = db.get_bind().dialect.name == "postgresql"
    if idempotency_key is not None and postgresql:
        applied, row = _claim_and_lock(db, principal, survey_id, idempotency_key, now)
    else:
        applied = True
        if idempotency_key is not None:
            applied = idempotency.claim(db, SAVE_SCOPE, principal.actor, idempotency_key, now)
        elif not postgresql:
            _take_sqlite_write_lock(db, survey_id, principal.organisation_id)
        row = _locked_row(db, survey_id, principal.organisation_id)
    if row is None:
        _first_response(db, principal, survey_id)
        row = _locked_row(db, survey_id, principal.organisation_id)
        if row is None:
            raise NotFound()
    survey_id_, key, version, updated_at, survey_status, opens_on, closes_on, extended = row[:8]
    header = SurveyHeader(survey_id_, key, version, updated_at, survey_status, opens_on, closes_on)
    response_id, status, stored, saved_at = int(row[8]), str(row[9]), dict(row[10] or {}), row[11]
    defn = service.cached_definition(
        (header.id, header.survey_key, header.version, header.updated_at), lambda: _definition_json(db, header.id)
    )
    index = next((i for i, section in enumerate(defn.sections) if section.name == section_name), -1)
    if index < 0:
        raise NotFound()
    shown, values = read_form(defn, defn.sections[index])
    changed = False
    if applied:
        service.ensure_editable(status, service.phase(header, now, extended))
        answers, relevant = service.merge_answers_relevant(defn, stored, values, shown)
        changed = answers != stored
    else:
        answers, relevant = stored, relevant_names(defn, stored)
    detail: dict[str, Any] = {"section": section_name, "questions": len(shown)}
    if idempotency_key is not None:  # ties the event to its idempotency record (the crash test matches them)
        detail.update(idempotency_key=idempotency_key, applied=applied)
    event = audit.event_columns(
        actor=principal.actor,
        role=principal.role.value,
        organisation_id=principal.organisation_id,
        action="survey.response.save",
        object_type="response",
        object_id=response_id,
        address=address,
        detail=detail,
        now=now,
    )
    saved = {"response": response_id, "answers": answers, "updated_at": now, "updated_by": principal.user_id}
    pending = audit.pending_row(event) if postgresql and changed else None
    if pending is not None:
        _UPDATE_AND_AUDIT.rows(db, {**saved, **{_AUDIT_PREFIX + name: value for name, value in pending.items()}})
    else:
        if changed:
            _UPDATE_ANSWERS.rows(db, saved)
        # On SQLite the event takes its place in the chain at once (under the write lock the save already holds).
        audit.append(db, event)
    return SectionSaved(
        header,
        defn,
        index,
        shown,
        draft_problems(defn, answers, relevant),
        answers,
        relevant,
        now if changed else saved_at,
        response_id,
        applied,
    )


def _claim_and_lock(
    db: Session, principal: Principal, survey_id: int, idempotency_key: str, now: datetime
) -> tuple[bool, tuple[Any, ...] | None]:
    """PostgreSQL: claim the key and read the locked row in one statement; (claimed, the row or ``None``)."""
    params = {"survey": survey_id, "organisation": principal.organisation_id}
    params.update(idempotency.claim_params(SAVE_SCOPE, principal.actor, idempotency_key, now))
    found = _CLAIM_AND_LOCK.first(db, params)
    if found is None:  # cannot happen: the statement always returns its one row
        raise RuntimeError("the claim returned no row")
    return bool(found[0]), (tuple(found[1:]) if found[1] is not None else None)


def _locked_row(db: Session, survey_id: int, organisation_id: int) -> tuple[Any, ...] | None:
    return _LOCKED_ROW_HOT.first(db, {"survey": survey_id, "organisation": organisation_id})


def _first_response(db: Session, principal: Principal, survey_id: int) -> None:
    service.own_response(db, principal, service.visible_survey(db, principal, survey_id))


def _take_sqlite_write_lock(db: Session, survey_id: int, organisation_id: int) -> None:
    """SQLite begins its write transaction at the first write: a no-op update takes the lock before the read."""
    db.execute(_TOUCH_RESPONSE, {"survey": survey_id, "organisation": organisation_id})


def _definition_json(db: Session, survey_id: int) -> dict[str, Any]:
    definition: dict[str, Any] = db.execute(_DEFINITION, {"survey": survey_id}).scalar_one()
    return definition
