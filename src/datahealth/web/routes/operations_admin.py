"""Administration of survey operations: reminders, extensions, inquiries and FAQ, mail delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.errors import NotFound, Problem, UserError
from datahealth.institutions import BED_BANDS, PREFECTURES
from datahealth.operations import extensions, inquiries, notices, outbox, reminders
from datahealth.operations.cli import default_sink_dir
from datahealth.operations.sink import received
from datahealth.operations.tables import Inquiry, InquiryCategory, InquiryStatus, MailStatus
from datahealth.survey import service
from datahealth.survey.tables import Survey
from datahealth.web.context import app_state, audit_event, redirect, render, require_admin, verify_csrf
from datahealth.web.params import PageNumber, one_of
from datahealth.web.routes.admin import _date_field
from datahealth.web.tenancy import MAX_OBJECT_ID

router = APIRouter(prefix="/admin")
PAGE_SIZE = 50
MAIL_KINDS = ("notice", "reminder", "extension", "inquiry_answer", "inquiry_desk")


def _operations_page(request: Request, survey_id: int, error: UserError | None = None, **extra: Any) -> Response:
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        context = {
            "survey": survey,
            "defn": service.definition_of(survey),
            "offsets": reminders.offsets(db, survey_id),
            "sent": reminders.sent_counts(db, survey_id),
            "extensions": extensions.history(db, survey),
            "mail": outbox.status_counts(db, survey_id),
            "faq": inquiries.faq(db, survey_id),
            "open_inquiries": len(inquiries.listing(db, status=InquiryStatus.OPEN, survey_id=survey_id)),
        }
    return render(
        request,
        "operations/admin_survey.html",
        status_code=error.status if error else 200,
        error=error,
        prefectures=PREFECTURES,
        bands=BED_BANDS,
        **context,
        **extra,
    )


@router.get("/surveys/{survey_id}/operations", response_class=HTMLResponse)
def operations(
    request: Request, survey_id: int, done: str | None = None, n: int = 0, emails: int = 0, already: int = 0
) -> Response:
    require_admin(request)
    return _operations_page(request, survey_id, done=done, n=n, emails=emails, already=already)


@router.post("/surveys/{survey_id}/reminders/schedule", response_class=HTMLResponse)
async def save_schedule(request: Request, survey_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    try:
        days = reminders.parse_offsets(str(form.get("offsets", "")))
        with app_state(request).db() as db:
            saved = reminders.set_offsets(db, service.get_survey(db, survey_id), days)
            audit_event(
                request,
                db,
                "ops.reminder.schedule",
                principal=principal,
                object_type="survey",
                object_id=survey_id,
                detail={"days_before": saved},
            )
    except UserError as error:
        return _operations_page(request, survey_id, error)
    return redirect(f"/admin/surveys/{survey_id}/operations?done=schedule")


def _int_or_none(value: object, field: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise UserError(Problem("DH-G400", {"field": field}))
    return int(text)


@router.post("/surveys/{survey_id}/reminders/now", response_class=HTMLResponse)
async def remind_now(request: Request, survey_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        prefecture = _int_or_none(form.get("prefecture"), "prefecture")
        band = str(form.get("band", "")) or None
        status = str(form.get("status", "")) or None
        with state.db() as db:
            survey = service.get_survey(db, survey_id)
            run = reminders.remind_now(
                db, survey, state.settings.public_url(), state.clock(), prefecture=prefecture, band=band, status=status
            )
            audit_event(
                request,
                db,
                "ops.reminder.send",
                principal=principal,
                object_type="survey",
                object_id=survey_id,
                detail={
                    "schedule": "now",
                    "prefecture": prefecture,
                    "band": band,
                    "status": status,
                    "reminded": run.reminded,
                    "emails": run.emails,
                },
            )
    except UserError as error:
        return _operations_page(request, survey_id, error)
    return redirect(
        f"/admin/surveys/{survey_id}/operations?done=reminded&n={run.reminded}&emails={run.emails}"
        f"&already={run.already}"
    )


@router.post("/surveys/{survey_id}/extensions", response_class=HTMLResponse)
async def extend(request: Request, survey_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        closes = _date_field(str(form.get("closes_on", "")), "closes_on")
        reason = str(form.get("reason", ""))
        scope = str(form.get("scope", "chosen"))
        with state.db() as db:
            survey = service.get_survey(db, survey_id)
            org_ids: list[int] | None = None
            if scope != "all":
                codes = str(form.get("hospitals", "")).replace(",", "\n").replace("、", "\n").splitlines()
                org_ids = [org_id for org_id, _name, _email in extensions.resolve_hospitals(db, survey, codes)]
            extensions.extend(
                db,
                survey,
                closes,
                organisation_ids=org_ids,
                reason=reason,
                user_id=principal.user_id,
                now=state.clock(),
            )
            told = notices.announce_extension(
                db, survey, closes, org_ids, reason.strip(), state.settings.public_url(), state.clock()
            )
            audit_event(
                request,
                db,
                "ops.deadline.extend",
                principal=principal,
                object_type="survey",
                object_id=survey_id,
                detail={
                    "closes_on": closes.isoformat(),
                    "scope": "all" if org_ids is None else "chosen",
                    "organisations": org_ids or [],
                    "notices": told.notices,
                    "emails": told.emails,
                },
            )
    except UserError as error:
        return _operations_page(request, survey_id, error)
    return redirect(f"/admin/surveys/{survey_id}/operations?done=extended&n={told.notices}&emails={told.emails}")


# --- inquiries -------------------------------------------------------------------------------------


@router.get("/inquiries", response_class=HTMLResponse)
def inquiry_list(request: Request, category: str = "", status: str = "") -> Response:
    require_admin(request)
    one_of(category, [c.value for c in InquiryCategory], "category")
    one_of(status, [s.value for s in InquiryStatus], "status")
    with app_state(request).db() as db:
        rows = inquiries.listing(db, category=category or None, status=status or None)
        counts = inquiries.open_counts(db)
    return render(
        request,
        "operations/admin_inquiries.html",
        rows=rows,
        counts=counts,
        category=category,
        status=status,
        categories=[c.value for c in InquiryCategory],
    )


def _inquiry_page(request: Request, inquiry_id: int, error: UserError | None = None, **extra: Any) -> Response:
    with app_state(request).db() as db:
        inquiry = db.get(Inquiry, inquiry_id)
        if inquiry is None:
            raise NotFound()
        survey = service.get_survey(db, inquiry.survey_id)
        organisation = db.get(Organisation, inquiry.organisation_id)
        context = {
            "inquiry": inquiry,
            "survey": survey,
            "organisation": organisation,
            "label": inquiries.question_label(survey, inquiry.question_name),
            "faq_entry": inquiries.faq_of_inquiry(db, inquiry_id),
            "anonymised": inquiries.anonymise(db, inquiry),
        }
    return render(
        request,
        "operations/admin_inquiry.html",
        status_code=error.status if error else 200,
        error=error,
        **context,
        **extra,
    )


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
def inquiry_detail(request: Request, inquiry_id: int, done: str | None = None) -> Response:
    require_admin(request)
    return _inquiry_page(request, inquiry_id, done=done)


@router.post("/inquiries/{inquiry_id}/answer", response_class=HTMLResponse)
async def answer(request: Request, inquiry_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        with state.db() as db:
            inquiry = db.get(Inquiry, inquiry_id)
            if inquiry is None:
                raise NotFound()
            inquiries.answer(
                db,
                principal,
                inquiry,
                str(form.get("answer", "")),
                base_url=state.settings.public_url(),
                now=state.clock(),
            )
            audit_event(
                request,
                db,
                "ops.inquiry.answer",
                principal=principal,
                object_type="inquiry",
                object_id=inquiry_id,
                detail={"survey": inquiry.survey_id, "category": inquiry.category},
            )
    except UserError as error:
        return _inquiry_page(request, inquiry_id, error)
    return redirect(f"/admin/inquiries/{inquiry_id}?done=answered")


@router.post("/inquiries/{inquiry_id}/publish", response_class=HTMLResponse)
async def publish(request: Request, inquiry_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        with state.db() as db:
            inquiry = db.get(Inquiry, inquiry_id)
            if inquiry is None:
                raise NotFound()
            entry = inquiries.publish(
                db,
                principal,
                inquiry,
                question_text=str(form.get("question_text", "")),
                answer_text=str(form.get("answer_text", "")),
                now=state.clock(),
            )
            audit_event(
                request,
                db,
                "ops.faq.publish",
                principal=principal,
                object_type="faq",
                object_id=entry.id,
                detail={"survey": inquiry.survey_id, "inquiry": inquiry_id},
            )
    except UserError as error:
        return _inquiry_page(request, inquiry_id, error)
    return redirect(f"/admin/inquiries/{inquiry_id}?done=published")


# --- mail ------------------------------------------------------------------------------------------


def _survey_filter(db: Session, value: str) -> int | None:
    """The id of an existing survey chosen as a filter (``None`` when empty); anything else is DH-A121."""
    if not value:
        return None
    if value.isascii() and value.isdigit() and int(value) <= MAX_OBJECT_ID and db.get(Survey, int(value)) is not None:
        return int(value)
    raise UserError(Problem("DH-A121", {"field": "survey", "value": value[:40]}, field="survey"))


@router.get("/mail", response_class=HTMLResponse)
def mail(
    request: Request,
    status: str = "",
    kind: str = "",
    survey: str = "",
    q: str = "",
    page: PageNumber = 1,
    retried: int | None = None,
) -> Response:
    require_admin(request)
    one_of(status, [s.value for s in MailStatus], "status")
    one_of(kind, MAIL_KINDS, "kind")
    with app_state(request).db() as db:
        survey_id = _survey_filter(db, survey)
        rows, total = outbox.page(
            db,
            status=status or None,
            kind=kind or None,
            survey_id=survey_id,
            address=q[:100] or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        counts = outbox.status_counts(db, survey_id)
    return render(
        request,
        "operations/admin_mail.html",
        rows=rows,
        total=total,
        counts=counts,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status=status,
        kind=kind,
        survey=survey,
        q=q,
        statuses=[s.value for s in MailStatus],
        kinds=MAIL_KINDS,
        retried=retried,
    )


@router.post("/mail/retry")
async def mail_retry(request: Request) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    ids = [int(v) for v in map(str, form.getlist("id")) if v.isascii() and v.isdigit() and int(v) <= MAX_OBJECT_ID]
    with state.db() as db:
        if form.get("all_failed"):
            rows, _ = outbox.page(db, status=MailStatus.FAILED, limit=10_000)
            ids = [row.id for row in rows]
        count = outbox.retry(db, ids, state.clock())
        audit_event(request, db, "ops.mail.retry", principal=principal, object_type="outbox", detail={"count": count})
    return redirect(f"/admin/mail?retried={count}")


@router.get("/mail/sink", response_class=HTMLResponse)
def mail_sink(request: Request) -> Response:
    """What the local SMTP sink (demo, ``datahealth mail-sink``) has received; empty where none runs."""
    require_admin(request)
    directory: Path = default_sink_dir(app_state(request).settings)
    return render(request, "operations/admin_sink.html", mails=received(directory, limit=100), directory=directory)
