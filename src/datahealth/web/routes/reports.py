"""Reports: a hospital's own feedback (page and PDF) and the ministry's national report (page, PDF, XLSX).

A hospital reaches only its own feedback: the URL names the survey, never a hospital, and the
organisation comes from the login (another survey, a draft survey or one the hospital is not a target
of is a 404). The national report and any hospital's feedback are administrator-only (404 otherwise).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from datahealth.analytics.national import parse_view
from datahealth.errors import NotFound
from datahealth.reports import service as reports
from datahealth.reports.html import feedback_charts, national_context, text_getter
from datahealth.survey import service
from datahealth.survey.service import visible_survey
from datahealth.web.context import app_state, audit_event, language, now, render, require_admin, require_hospital
from datahealth.web.params import one_of

router = APIRouter()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cache(request: Request) -> reports.ReportCache:
    """The app's report cache (one per app, so each test's app has its own)."""
    state = request.app.state
    if not hasattr(state, "reports"):
        state.reports = reports.ReportCache()
    cache: reports.ReportCache = state.reports
    return cache


def _attachment(content: bytes, filename: str, media_type: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _audit(
    request: Request,
    db: Session,
    action: str,
    survey_id: int,
    organisation_id: int | None,
    detail: dict[str, object] | None = None,
) -> None:
    object_type, object_id = ("organisation", organisation_id) if organisation_id is not None else ("survey", survey_id)
    audit_event(
        request,
        db,
        action,
        object_type=object_type,
        object_id=object_id,
        detail={"survey": survey_id, **(detail or {})},
    )


@router.get("/surveys/{survey_id}/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    lang = language(request, principal)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        report = reports.hospital_feedback(db, survey, principal.organisation_id, now(request), _cache(request))
        _audit(request, db, "report.feedback.view", survey_id, principal.organisation_id)
    return render(
        request,
        "reports/feedback.html",
        r=report,
        charts=feedback_charts(report, lang),
        tx=text_getter(lang),
        pdf=False,
        pdf_url=f"/surveys/{survey_id}/feedback.pdf",
        back_url="/",
    )


@router.get("/surveys/{survey_id}/feedback.pdf")
def feedback_pdf(request: Request, survey_id: int) -> Response:
    principal = require_hospital(request)
    lang = language(request, principal)
    with app_state(request).db() as db:
        survey = visible_survey(db, principal, survey_id)
        report = reports.hospital_feedback(db, survey, principal.organisation_id, now(request), _cache(request))
        _audit(request, db, "report.feedback.export", survey_id, principal.organisation_id)
    filename = f"feedback-{survey.survey_key}-{report.hospital.code}.pdf"
    return _attachment(reports.feedback_pdf(report, lang), filename, "application/pdf")


@router.get("/admin/surveys/{survey_id}/feedback/{organisation_id}.pdf")
def admin_feedback_pdf(  # before the page, which "12.pdf" would reach
    request: Request, survey_id: int, organisation_id: int
) -> Response:
    principal = require_admin(request)
    lang = language(request, principal)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        report = reports.hospital_feedback(db, survey, organisation_id, now(request), _cache(request))
        _audit(request, db, "report.feedback.export", survey_id, organisation_id)
    filename = f"feedback-{survey.survey_key}-{report.hospital.code}.pdf"
    return _attachment(reports.feedback_pdf(report, lang), filename, "application/pdf")


@router.get("/admin/surveys/{survey_id}/feedback/{organisation_id}", response_class=HTMLResponse)
def admin_feedback_page(request: Request, survey_id: int, organisation_id: int) -> Response:
    """What a hospital sees, for the survey office (e.g. when the hospital calls)."""
    principal = require_admin(request)
    lang = language(request, principal)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        report = reports.hospital_feedback(db, survey, organisation_id, now(request), _cache(request))
        _audit(request, db, "report.feedback.view", survey_id, organisation_id)
    return render(
        request,
        "reports/feedback.html",
        r=report,
        charts=feedback_charts(report, lang),
        tx=text_getter(lang),
        pdf=False,
        pdf_url=f"/admin/surveys/{survey_id}/feedback/{organisation_id}.pdf",
        back_url=f"/admin/surveys/{survey_id}/national",
    )


@router.get("/admin/surveys/{survey_id}/national", response_class=HTMLResponse)
def national_page(request: Request, survey_id: int, view: str | None = None, question: str | None = None) -> Response:
    principal = require_admin(request)
    lang = language(request, principal)
    chosen = parse_view(view)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        report = reports.national(db, survey, chosen, now(request), _cache(request))
        names = {q.name for q in service.definition_of(survey).questions()}
        _audit(request, db, "report.national.view", survey_id, None, {"view": chosen})
    question = one_of(question, names, "question")
    context = national_context(report, lang, pdf=False, question=question)
    return render(request, "reports/national.html", survey=survey, n=report, tx=text_getter(lang), **context)


@router.get("/admin/surveys/{survey_id}/national.{kind}")
def national_download(request: Request, survey_id: int, kind: str, view: str | None = None) -> Response:
    principal = require_admin(request)
    if kind not in ("pdf", "xlsx"):
        raise NotFound()
    lang = language(request, principal)
    chosen = parse_view(view)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        content = reports.national_file(db, survey, chosen, kind, lang, now(request), _cache(request))
        _audit(request, db, "report.national.export", survey_id, None, {"view": chosen, "format": kind})
    filename = f"national-{survey.survey_key}-{chosen}.{kind}"
    return _attachment(content, filename, "application/pdf" if kind == "pdf" else XLSX)
