"""Hospital side: my surveys, the form by section, review, submit, receipt."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from datahealth import idempotency
from datahealth.analytics.mapping import scoring_filename
from datahealth.auth.tables import Role, SessionStage
from datahealth.errors import NotFound, UserError
from datahealth.operations import notices
from datahealth.operations.extensions import effective_closes_on
from datahealth.survey import service
from datahealth.survey.answers import draft_problems, relevant_names
from datahealth.survey.model import Section, SurveyDefinition
from datahealth.survey.section_save import SectionSaved
from datahealth.survey.section_save import save_section as save_section_answers
from datahealth.survey.service import visible_survey
from datahealth.survey.tables import ResponseStatus
from datahealth.web.context import (
    app_state,
    audit_event,
    client_address,
    now,
    principal_in,
    redirect,
    render,
    require_hospital,
    require_principal,
    verify_csrf,
)
from datahealth.web.forms import form_values, posted_form, section_index, section_views, shown_names
from datahealth.web.review import render_review
from datahealth.web.security import check_csrf_of

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    principal = require_principal(request)
    if principal.is_admin:
        return redirect("/admin")
    if principal.role in (Role.CONSORTIUM, Role.RESEARCHER):
        return redirect("/exchange")
    if principal.role != Role.HOSPITAL:  # insurers (and any future role): their own account pages only
        return redirect("/account")
    with app_state(request).db() as db:
        rows = service.surveys_for(db, principal)
        moment = now(request)
        items = [
            (survey, response, service.hospital_phase(db, survey, principal.organisation_id, moment))
            for survey, response in rows
        ]
        deadlines = {survey.id: effective_closes_on(db, survey, principal.organisation_id) for survey, _ in rows}
        board = notices.board(db, principal.organisation_id, limit=5)
        unread = notices.unread_count(db, principal.organisation_id)
    with_feedback = {survey.id for survey, _response in rows if scoring_filename(survey.survey_key) is not None}
    return render(
        request,
        "hospital/home.html",
        items=items,
        deadlines=deadlines,
        notices=board,
        unread=unread,
        with_feedback=with_feedback,
    )


@router.get("/surveys/{survey_id}", response_class=HTMLResponse)
def survey_entry(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        response = service.response_for(db, principal, survey)
        if response is not None and response.status == ResponseStatus.SUBMITTED:
            return redirect(f"/surveys/{survey_id}/review")
        first = service.definition_of(survey).sections[0].name
    return redirect(f"/surveys/{survey_id}/s/{first}")


@router.get("/surveys/{survey_id}/s/{section_name}", response_class=HTMLResponse)
def section_page(request: Request, survey_id: int, section_name: str, saved: str | None = None) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        response = service.response_for(db, principal, survey)
        if response is not None and response.status == ResponseStatus.SUBMITTED:
            return redirect(f"/surveys/{survey_id}/review")
        defn = service.definition_of(survey)
        index = section_index(defn, section_name)
        if index < 0:
            raise NotFound()
        answers = service.stored_answers(response)
        relevant = relevant_names(defn, answers)
        problems = draft_problems(defn, answers)
        current_phase = service.hospital_phase(db, survey, principal.organisation_id, now(request))
        audit_event(
            request,
            db,
            "survey.response.view",
            principal=principal,
            object_type="response",
            object_id=response.id if response else f"survey:{survey_id}",
            detail={"section": section_name},
        )
    section = defn.sections[index]
    return render(
        request,
        "hospital/section.html",
        survey=survey,
        defn=defn,
        section=section,
        index=index,
        views=section_views(defn, section, answers, relevant, problems),
        phase=current_phase,
        saved=saved is not None,
        saved_at=response.updated_at if response else None,
    )


def _save(request: Request, survey_id: int, section_name: str, form: FormData) -> SectionSaved | None:
    """The whole database part of a save in one transaction, session included (run in a worker thread).

    ``None`` when the request is not a hospital user's full login: the caller raises what the route's guard
    would (after this transaction committed the session's bookkeeping).
    """
    state = app_state(request)
    with state.db() as db:
        principal = principal_in(request, db)
        if principal is None or principal.stage != SessionStage.FULL or principal.role != Role.HOSPITAL:
            return None
        check_csrf_of(request, form, principal.csrf_token)

        def read_form(defn: SurveyDefinition, section: Section) -> tuple[list[str], dict[str, str | list[str]]]:
            return shown_names(form, defn, section), form_values(form, defn)

        return save_section_answers(
            db,
            principal,
            survey_id,
            section_name,
            read_form,
            idempotency_key=idempotency.valid_key(request.headers.get("idempotency-key")),
            now=state.clock(),
            address=client_address(request),
        )


@router.post("/surveys/{survey_id}/s/{section_name}", response_class=HTMLResponse)
async def save_section(request: Request, survey_id: int, section_name: str) -> Response:
    """Save the section's shown answers; works without JavaScript (PRG) and as the HTMX autosave."""
    form = await posted_form(request)
    saved = await app_state(request).in_thread(lambda: _save(request, survey_id, section_name, form))
    if saved is None:
        require_hospital(request)  # raises: not logged in, second factor missing, or not a hospital user
        raise NotFound()
    defn, index = saved.defn, saved.index
    section = defn.sections[index]
    if request.headers.get("hx-request"):
        views = section_views(defn, section, saved.answers, saved.relevant, saved.problems)
        changed = [v for v in views if v.question.answerable and (v.relevant != (v.name in saved.shown))]
        return render(
            request,
            "hospital/autosave.html",
            survey=saved.survey,
            defn=defn,
            views=views,
            changed=changed,
            saved_at=saved.saved_at,
        )
    action = str(form.get("action", "save"))
    if action == "next" and index + 1 < len(defn.sections):
        return redirect(f"/surveys/{survey_id}/s/{defn.sections[index + 1].name}")
    if action == "prev" and index > 0:
        return redirect(f"/surveys/{survey_id}/s/{defn.sections[index - 1].name}")
    if action == "review":
        return redirect(f"/surveys/{survey_id}/review")
    return redirect(f"/surveys/{survey_id}/s/{section_name}?saved=1#form-status")


async def autosave(request: Request) -> Response:
    """``save_section`` reached through the direct route (``web.direct_routes``): the survey id already an int."""
    path = request.path_params
    return await save_section(request, path["survey_id"], path["section_name"])


@router.get("/surveys/{survey_id}/review", response_class=HTMLResponse)
def review(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        response = service.response_for(db, principal, survey)
        audit_event(
            request,
            db,
            "survey.response.view",
            principal=principal,
            object_type="response",
            object_id=response.id if response else f"survey:{survey_id}",
            detail={"page": "review"},
        )
        return render_review(request, survey, response)


@router.post("/surveys/{survey_id}/submit", response_class=HTMLResponse)
async def submit(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    await verify_csrf(request, principal)
    state = app_state(request)
    try:
        with state.db() as db:
            survey = visible_survey(db, principal, survey_id)
            response = service.own_response(db, principal, survey)
            receipt_code = service.submit(db, principal, survey, response, state.clock())
            audit_event(
                request,
                db,
                "survey.response.submit",
                principal=principal,
                object_type="response",
                object_id=response.id,
                detail={"receipt": receipt_code},
            )
    except UserError as error:
        with state.db() as db:
            audit_event(
                request,
                db,
                "survey.response.submit",
                principal=principal,
                outcome="failure",
                object_type="survey",
                object_id=survey_id,
                detail={"error": error.code, "problems": len(error.problems)},
            )
            survey = visible_survey(db, principal, survey_id)
            current = service.response_for(db, principal, survey)
            return render_review(request, survey, current, submit_errors=error, status_code=error.status)
    return redirect(f"/surveys/{survey_id}/receipt")


@router.get("/surveys/{survey_id}/receipt", response_class=HTMLResponse)
def receipt(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        response = service.response_for(db, principal, survey)
        if response is None or response.status != ResponseStatus.SUBMITTED:
            raise NotFound()
        return render(request, "hospital/receipt.html", survey=survey, response=response)
