"""Hospital side of survey operations: the notice board, inquiries from the form, the survey's FAQ."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from datahealth.errors import UserError
from datahealth.operations import inquiries, notices
from datahealth.operations.tables import InquiryCategory
from datahealth.survey import service
from datahealth.survey.service import visible_survey
from datahealth.survey.tables import Survey
from datahealth.web.context import (
    app_state,
    audit_event,
    redirect,
    render,
    require_hospital,
    verify_csrf,
)
from datahealth.web.params import one_of

router = APIRouter()


@router.get("/notices", response_class=HTMLResponse)
def notice_board(request: Request) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        board = notices.board(db, principal.organisation_id)
        unread = notices.unread_count(db, principal.organisation_id)
    return render(request, "operations/notices.html", notices=board, unread=unread)


@router.post("/notices/read-all")
async def read_all(request: Request) -> Response:
    principal = require_hospital(request)
    await verify_csrf(request, principal)
    state = app_state(request)
    with state.db() as db:
        notices.mark_all_read(db, principal.organisation_id, state.clock())
    return redirect("/notices")


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(request: Request, notice_id: int) -> Response:
    principal = require_hospital(request)
    state = app_state(request)
    with state.db() as db:
        notice = notices.open_notice(db, principal.organisation_id, notice_id, state.clock())
    return render(request, "operations/notice.html", notice=notice)


def _inquiry_form(
    request: Request, survey: Survey, question: str, category: str, body: str, error: UserError | None
) -> Response:
    defn = service.definition_of(survey)
    return render(
        request,
        "operations/inquiry_new.html",
        status_code=error.status if error else 200,
        survey=survey,
        defn=defn,
        questions=[q for q in defn.questions() if q.answerable],
        question=question,
        category=category,
        body=body,
        error=error,
    )


@router.get("/surveys/{survey_id}/inquiries/new", response_class=HTMLResponse)
def new_inquiry(request: Request, survey_id: int, question: str = "", category: str = "content") -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
    one_of(category, [c.value for c in InquiryCategory], "category")
    one_of(question, [q.name for q in service.definition_of(survey).questions()], "question")
    return _inquiry_form(request, survey, question, category, "", None)


@router.post("/surveys/{survey_id}/inquiries", response_class=HTMLResponse)
async def send_inquiry(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    await verify_csrf(request, principal)
    form = await request.form()
    question, category, body = (str(form.get(k, "")) for k in ("question", "category", "body"))
    state = app_state(request)
    settings = state.settings
    try:
        with state.db() as db:
            survey = visible_survey(db, principal, survey_id)
            inquiry = inquiries.create(
                db,
                principal,
                survey,
                question_name=question,
                category=category,
                body=body,
                base_url=settings.public_url(),
                desk_addresses={"operation": settings.desk_operation_email, "content": settings.desk_content_email},
                now=state.clock(),
            )
            audit_event(
                request,
                db,
                "ops.inquiry.create",
                principal=principal,
                object_type="inquiry",
                object_id=inquiry.id,
                detail={"survey": survey_id, "category": inquiry.category, "question": inquiry.question_name},
            )
            inquiry_id = inquiry.id
    except UserError as error:
        with state.db() as db:
            survey = visible_survey(db, principal, survey_id)
        return _inquiry_form(request, survey, question, category, body, error)
    return redirect(f"/inquiries/{inquiry_id}?sent=1")


@router.get("/inquiries", response_class=HTMLResponse)
def my_inquiries(request: Request) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        rows = inquiries.of_hospital(db, principal.organisation_id)
    return render(request, "operations/inquiries.html", inquiries=rows)


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
def my_inquiry(request: Request, inquiry_id: int, sent: str | None = None) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        inquiry = inquiries.own(db, principal, inquiry_id)
        survey = service.get_survey(db, inquiry.survey_id)
        label = inquiries.question_label(survey, inquiry.question_name)
    return render(
        request, "operations/inquiry.html", inquiry=inquiry, survey=survey, label=label, sent=sent is not None
    )


@router.get("/surveys/{survey_id}/faq", response_class=HTMLResponse)
def faq_page(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        entries = inquiries.faq(db, survey_id)
        labels = {e.question_name: inquiries.question_label(survey, e.question_name) for e in entries}
    return render(
        request,
        "operations/faq.html",
        survey=survey,
        defn=service.definition_of(survey),
        entries=entries,
        labels=labels,
    )
