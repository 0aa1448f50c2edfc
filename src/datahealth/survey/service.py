"""Survey administration and the response lifecycle. The server is the authority on answers."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datahealth.auth.service import Principal
from datahealth.auth.tables import Organisation, OrgKind
from datahealth.clock import jst_date
from datahealth.db import utcnow
from datahealth.errors import Conflict, NotFound, Problem, UserError, ValidationFailed
from datahealth.operations.extensions import effective_closes_on
from datahealth.survey.answers import draft_problems, normalise_form, prune, prune_relevant, validate_submission
from datahealth.survey.checks import ensure_valid_definition
from datahealth.survey.model import Answers, SurveyDefinition
from datahealth.survey.tables import Response, ResponseEvent, ResponseStatus, Survey, SurveyStatus, SurveyTarget

_DEFINITIONS: dict[tuple[int, str, str, datetime], SurveyDefinition] = {}


class SurveyPeriod(Protocol):
    """What the phase of a survey depends on (a :class:`Survey` row or a lighter header of one)."""

    @property
    def status(self) -> str: ...
    @property
    def opens_on(self) -> date: ...
    @property
    def closes_on(self) -> date: ...


def definition_of(survey: Survey) -> SurveyDefinition:
    """The parsed definition of a stored survey, parsed once per version of the row."""
    return cached_definition(
        (survey.id, survey.survey_key, survey.version, survey.updated_at), lambda: survey.definition
    )


def cached_definition(
    key: tuple[int, str, str, datetime], load: Callable[[], dict[str, Any]]
) -> SurveyDefinition:
    """The definition for ``key`` (id, survey key, version, updated_at of the row); ``load`` reads it on a miss."""
    cached = _DEFINITIONS.get(key)
    if cached is None:
        if len(_DEFINITIONS) > 64:
            _DEFINITIONS.clear()
        cached = _DEFINITIONS[key] = SurveyDefinition.model_validate(load())
    return cached


# --- surveys ---------------------------------------------------------------------------------------


def create_survey(db: Session, defn: SurveyDefinition, opens: date | None = None, closes: date | None = None) -> Survey:
    """Register a definition as a new survey in draft status; its period defaults to the definition's."""
    ensure_valid_definition(defn)
    exists = db.scalar(select(Survey.id).where(Survey.survey_key == defn.id, Survey.version == defn.version))
    if exists is not None:
        raise Conflict.of("DH-S208", survey_id=defn.id, version=defn.version)
    period_opens = opens or (defn.period.opens if defn.period else None)
    period_closes = closes or (defn.period.closes if defn.period else None)
    if period_opens is None or period_closes is None:
        raise UserError(
            Problem(
                "DH-D102",
                {"sheet": "settings", "row": 1, "field": "period", "detail": "period is required / 回答期間が必要です"},
            )
        )
    _check_period(period_opens, period_closes)
    survey = Survey(
        survey_key=defn.id,
        version=defn.version,
        title_ja=defn.title.ja,
        title_en=defn.title.en,
        definition=defn.model_dump(mode="json", exclude_none=True),
        opens_on=period_opens,
        closes_on=period_closes,
        status=SurveyStatus.DRAFT,
    )
    db.add(survey)
    db.flush()
    return survey


def replace_definition(db: Session, survey: Survey, defn: SurveyDefinition) -> None:
    """Swap a survey's definition while nobody has answered yet."""
    ensure_valid_definition(defn)
    answered = db.scalar(select(func.count()).select_from(Response).where(Response.survey_id == survey.id))
    if answered:
        raise Conflict.of("DH-S209")
    survey.definition = defn.model_dump(mode="json", exclude_none=True)
    survey.title_ja, survey.title_en = defn.title.ja, defn.title.en
    survey.updated_at = utcnow()


def _check_period(opens: date, closes: date) -> None:
    if closes < opens:
        raise UserError.of("DH-S207", opens=opens.isoformat(), closes=closes.isoformat())


def set_period(survey: Survey, opens: date, closes: date) -> None:
    _check_period(opens, closes)
    survey.opens_on, survey.closes_on = opens, closes


def set_status(db: Session, survey: Survey, status: SurveyStatus) -> None:
    """Change the status; opening a survey makes every registered hospital a target."""
    survey.status = status
    if status == SurveyStatus.OPEN:
        target_all_hospitals(db, survey)


def target_hospitals_of_active_surveys(db: Session) -> None:
    """After hospitals are imported: make them targets of every survey not yet closed."""
    for survey in db.scalars(select(Survey).where(Survey.status != SurveyStatus.CLOSED)).all():
        target_all_hospitals(db, survey)


def target_all_hospitals(db: Session, survey: Survey) -> int:
    """Make every registered hospital a target of the survey; returns how many were added."""
    already = select(SurveyTarget.organisation_id).where(SurveyTarget.survey_id == survey.id)
    new_ids = db.scalars(
        select(Organisation.id).where(Organisation.kind == OrgKind.HOSPITAL, Organisation.id.not_in(already))
    ).all()
    if new_ids:
        db.execute(insert(SurveyTarget), [{"survey_id": survey.id, "organisation_id": i} for i in new_ids])
    return len(new_ids)


def get_survey(db: Session, survey_id: int) -> Survey:
    survey = db.get(Survey, survey_id)
    if survey is None:
        raise NotFound()
    return survey


# --- phases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """Where a survey stands for a hospital today."""

    editable: bool
    submittable: bool
    reason_code: str | None
    reason_params: dict[str, Any]


def phase(survey: SurveyPeriod, now: datetime, closes_on: date | None = None) -> Phase:
    """``closes_on``: the hospital's effective deadline when it was extended (see ``hospital_phase``)."""
    today = jst_date(now)
    closes = max(survey.closes_on, closes_on) if closes_on else survey.closes_on
    period = {"opens": survey.opens_on.isoformat(), "closes": closes.isoformat()}
    if survey.status != SurveyStatus.OPEN:
        return Phase(False, False, "DH-S203", {"status": survey.status})
    if today > closes:
        return Phase(False, False, "DH-S201", period)
    if today < survey.opens_on:
        return Phase(True, False, "DH-S201", period)
    return Phase(True, True, None, {})


def hospital_phase(db: Session, survey: Survey, organisation_id: int, now: datetime) -> Phase:
    """The phase for one hospital, respecting deadline extensions (survey operations)."""
    return phase(survey, now, effective_closes_on(db, survey, organisation_id))


# --- responses -------------------------------------------------------------------------------------


def is_target(db: Session, survey: Survey, organisation_id: int) -> bool:
    return db.get(SurveyTarget, (survey.id, organisation_id)) is not None


def visible_survey(db: Session, principal: Principal, survey_id: int) -> Survey:
    """The survey ``survey_id`` if this hospital user may see it (published, the hospital a target); otherwise
    :class:`NotFound`: another hospital's survey or a guessed id looks like any missing one."""
    survey = db.get(Survey, survey_id)
    if survey is None or survey.status == SurveyStatus.DRAFT or not is_target(db, survey, principal.organisation_id):
        raise NotFound()
    return survey


def surveys_for(db: Session, principal: Principal) -> list[tuple[Survey, Response | None]]:
    """The hospital's surveys (targets, open or closed, never drafts) with its response if any."""
    rows = db.execute(
        select(Survey, Response)
        .join(SurveyTarget, SurveyTarget.survey_id == Survey.id)
        .outerjoin(
            Response,
            (Response.survey_id == Survey.id) & (Response.organisation_id == principal.organisation_id),
        )
        .where(SurveyTarget.organisation_id == principal.organisation_id, Survey.status != SurveyStatus.DRAFT)
        .order_by(Survey.closes_on.desc(), Survey.id)
    ).all()
    return [(survey, response) for survey, response in rows]


def response_for(db: Session, principal: Principal, survey: Survey) -> Response | None:
    """The principal's own hospital's response to a survey, if it has started one (hospital users only)."""
    if not is_target(db, survey, principal.organisation_id):
        raise NotFound()
    return db.scalar(
        select(Response).where(Response.survey_id == survey.id, Response.organisation_id == principal.organisation_id)
    )


def own_response(db: Session, principal: Principal, survey: Survey) -> Response:
    """The principal's hospital's response, created on first save (safe against two tabs racing)."""
    response = response_for(db, principal, survey)
    if response is not None:
        return response
    try:
        with db.begin_nested():
            response = Response(survey_id=survey.id, organisation_id=principal.organisation_id, answers={})
            db.add(response)
    except IntegrityError:  # another tab created it at the same moment
        response = response_for(db, principal, survey)
        if response is None:
            raise
    return response


def visible_response(db: Session, principal: Principal, response_id: int) -> Response:
    """A response the principal may see: administrators any, hospitals only their own (else 404)."""
    response = db.get(Response, response_id)
    if response is None or (not principal.is_admin and response.organisation_id != principal.organisation_id):
        raise NotFound()
    return response


def stored_answers(response: Response | None) -> Answers:
    if response is None:
        return {}
    return dict(response.answers)


def save_draft(
    db: Session,
    principal: Principal,
    survey: Survey,
    response: Response,
    form: dict[str, str | list[str]],
    names: list[str],
    now: datetime,
) -> list[Problem]:
    """Save what was typed for ``names`` (others unchanged), drop non-relevant answers, return draft problems.

    Whatever the person typed is kept, valid or not, so nothing is lost; problems are shown inline.
    """
    defn = definition_of(survey)
    _ensure_editable(db, survey, response, now)
    cleaned = merge_answers(defn, stored_answers(response), form, names)
    if cleaned != response.answers:
        response.answers = cleaned
        response.revision += 1
        response.updated_at = now
        response.updated_by = principal.user_id
    return draft_problems(defn, cleaned)


def merge_answers(
    defn: SurveyDefinition, stored: Answers, form: dict[str, str | list[str]], names: list[str]
) -> Answers:
    """The stored answers with ``names`` replaced by what was posted for them, non-relevant answers dropped."""
    return merge_answers_relevant(defn, stored, form, names)[0]


def merge_answers_relevant(
    defn: SurveyDefinition, stored: Answers, form: dict[str, str | list[str]], names: list[str]
) -> tuple[Answers, set[str]]:
    """``merge_answers`` and the relevant question names of the result (``relevant_names``), evaluated once."""
    merged: Answers = {k: v for k, v in stored.items() if k not in names}
    merged.update(normalise_form(defn, form, names))
    return prune_relevant(defn, merged)


def ensure_editable(status: str, current: Phase) -> None:
    """A submitted response, or one outside the (possibly extended) period, cannot change."""
    if status == ResponseStatus.SUBMITTED:
        raise Conflict.of("DH-S202")
    if not current.editable:
        raise Conflict.of(current.reason_code or "DH-S203", **current.reason_params)


def _ensure_editable(db: Session, survey: Survey, response: Response, now: datetime) -> None:
    if response.status == ResponseStatus.SUBMITTED:  # before the phase query: a submitted response is final
        raise Conflict.of("DH-S202")
    ensure_editable(response.status, hospital_phase(db, survey, response.organisation_id, now))


def submit(db: Session, principal: Principal, survey: Survey, response: Response, now: datetime) -> str:
    """Submit inside the period when every relevant question is valid; returns the receipt code."""
    defn = definition_of(survey)
    _ensure_editable(db, survey, response, now)
    current = hospital_phase(db, survey, response.organisation_id, now)
    if not current.submittable:
        raise Conflict.of(current.reason_code or "DH-S201", **current.reason_params)
    answers = prune(defn, stored_answers(response))
    problems = validate_submission(defn, answers)
    if problems:
        raise ValidationFailed(Problem("DH-S204", {"count": len(problems)}), *problems)
    response.answers = answers
    response.status = ResponseStatus.SUBMITTED
    response.submitted_at = now
    response.submitted_by = principal.user_id
    response.receipt_code = f"{survey.survey_key.upper()}-{response.id:06d}-{secrets.token_hex(3).upper()}"
    response.revision += 1
    db.add(ResponseEvent(response_id=response.id, kind="submitted", at=now, user_id=principal.user_id))
    return response.receipt_code


def reopen(db: Session, principal: Principal, response: Response, now: datetime, note: str = "") -> None:
    """An administrator reopens a submitted response so the hospital can change it."""
    if not principal.is_admin:
        raise NotFound()
    if response.status != ResponseStatus.SUBMITTED:
        raise Conflict.of("DH-S205")
    response.status = ResponseStatus.DRAFT
    response.receipt_code = None
    response.revision += 1
    db.add(ResponseEvent(response_id=response.id, kind="reopened", at=now, user_id=principal.user_id, note=note))
