"""Administration (ministry role): surveys, period and status, targets, progress, responses, exports."""

from __future__ import annotations

import base64
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from datahealth.auth.hospital_import import accounts_csv, import_hospitals
from datahealth.errors import NotFound, Problem, UserError
from datahealth.institutions import BED_BANDS, PREFECTURES
from datahealth.operations import notices
from datahealth.survey import export, io, progress, service, xlsform
from datahealth.survey.definitions import bundled_ids, load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.tables import Survey, SurveyStatus
from datahealth.web.context import (
    app_state,
    audit_event,
    redirect,
    render,
    require_admin,
    require_recent_auth,
    verify_csrf,
)
from datahealth.web.params import PageNumber
from datahealth.web.review import render_review

router = APIRouter(prefix="/admin")
PAGE_SIZE = 50


def _attachment(content: bytes, filename: str, media_type: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("", response_class=HTMLResponse)
def surveys(request: Request) -> Response:
    require_admin(request)
    with app_state(request).db() as db:
        rows = [
            (s, progress.survey_progress(db, s.id).overall)
            for s in db.query(Survey).order_by(Survey.created_at.desc(), Survey.id.desc()).all()
        ]
    return render(request, "admin/surveys.html", rows=rows)


@router.get("/surveys/new", response_class=HTMLResponse)
def new_survey_page(request: Request) -> Response:
    require_admin(request)
    return render(request, "admin/new_survey.html", bundled=bundled_ids(), error=None)


async def _read_upload(upload: object, limit: int, code: str) -> tuple[bytes, str] | None:
    """The bytes of an uploaded file (``None`` when no file was chosen); too large → the given code."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UserError(
            Problem(
                code,
                {
                    "row": 0,
                    "field": "file",
                    "value": upload.filename,
                    "detail": "file too large / ファイルが大きすぎます",
                },
            )
        )
    return data, upload.filename


async def _definition_from_form(request: Request) -> SurveyDefinition:
    form = await request.form()
    upload = await _read_upload(form.get("definition"), app_state(request).settings.max_upload_bytes, "DH-D101")
    if upload is not None:
        return io.load_definition_bytes(*upload)
    bundled = str(form.get("bundled", ""))
    if bundled in bundled_ids():
        return load_bundled(bundled)
    raise UserError(
        Problem("DH-D101", {"detail": "ファイルまたは同梱の調査を選択してください (choose a file or a bundled survey)"})
    )


@router.post("/surveys/new", response_class=HTMLResponse)
async def new_survey(request: Request) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    try:
        defn = await _definition_from_form(request)
        with app_state(request).db() as db:
            survey = service.create_survey(db, defn)
            service.target_all_hospitals(db, survey)
            survey_id = survey.id
            audit_event(
                request,
                db,
                "survey.create",
                principal=principal,
                object_type="survey",
                object_id=survey_id,
                detail={"survey_key": defn.id, "version": defn.version},
            )
    except UserError as error:
        return render(request, "admin/new_survey.html", status_code=error.status, bundled=bundled_ids(), error=error)
    return redirect(f"/admin/surveys/{survey_id}?created=1")


@router.get("/surveys/{survey_id}", response_class=HTMLResponse)
def survey_detail(request: Request, survey_id: int, created: str | None = None, updated: str | None = None) -> Response:
    require_admin(request)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        overall = progress.survey_progress(db, survey_id).overall
        defn = service.definition_of(survey)
    return render(
        request,
        "admin/survey.html",
        survey=survey,
        defn=defn,
        overall=overall,
        error=None,
        created=created is not None,
        updated=updated,
    )


@router.post("/surveys/{survey_id}/period", response_class=HTMLResponse)
async def update_period(request: Request, survey_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    try:
        opens = _date_field(str(form.get("opens_on", "")), "opens_on")
        closes = _date_field(str(form.get("closes_on", "")), "closes_on")
        with app_state(request).db() as db:
            service.set_period(service.get_survey(db, survey_id), opens, closes)
            audit_event(
                request,
                db,
                "survey.period",
                principal=principal,
                object_type="survey",
                object_id=survey_id,
                detail={"opens": opens.isoformat(), "closes": closes.isoformat()},
            )
    except UserError as error:
        with app_state(request).db() as db:
            survey = service.get_survey(db, survey_id)
            return render(
                request,
                "admin/survey.html",
                status_code=error.status,
                survey=survey,
                defn=service.definition_of(survey),
                error=error,
                created=False,
                updated=None,
                overall=progress.survey_progress(db, survey_id).overall,
            )
    return redirect(f"/admin/surveys/{survey_id}?updated=period")


def _date_field(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(Problem("DH-G400", {"field": field})) from None


@router.post("/surveys/{survey_id}/status")
async def update_status(request: Request, survey_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    try:
        status = SurveyStatus(str(form.get("status", "")))
    except ValueError:
        raise UserError(Problem("DH-G400", {"field": "status"})) from None
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        service.set_status(db, survey, status)
        audit_event(
            request,
            db,
            "survey.status",
            principal=principal,
            object_type="survey",
            object_id=survey_id,
            detail={"status": status.value},
        )
        if status == SurveyStatus.OPEN:  # survey operations: tell every target hospital (once)
            _announce_open(request, db, survey)
    return redirect(f"/admin/surveys/{survey_id}?updated=status")


@router.get("/surveys/{survey_id}/progress", response_class=HTMLResponse)
def survey_progress(
    request: Request, survey_id: int, prefecture: int | None = None, band: str | None = None, page: PageNumber = 1
) -> Response:
    require_admin(request)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        summary = progress.survey_progress(db, survey_id)
        missing, total = progress.non_responders(
            db, survey_id, prefecture=prefecture, band=band or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "admin/progress.html",
        survey=survey,
        summary=summary,
        missing=missing,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        prefecture=prefecture,
        band=band or "",
        prefectures=PREFECTURES,
        bands=BED_BANDS,
    )


@router.get("/surveys/{survey_id}/responses", response_class=HTMLResponse)
def responses(
    request: Request,
    survey_id: int,
    status: str | None = None,
    prefecture: int | None = None,
    band: str | None = None,
    q: str | None = None,
    page: PageNumber = 1,
) -> Response:
    require_admin(request)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        rows, total = progress.responses_page(
            db,
            survey_id,
            status=status or None,
            prefecture=prefecture,
            band=band or None,
            query=q or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    return render(
        request,
        "admin/responses.html",
        survey=survey,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        status=status or "",
        prefecture=prefecture,
        band=band or "",
        q=q or "",
        prefectures=PREFECTURES,
        bands=BED_BANDS,
        statuses=progress.STATUSES,
    )


@router.get("/responses/{response_id}", response_class=HTMLResponse)
def response_detail(request: Request, response_id: int, reopened: str | None = None) -> Response:
    principal = require_admin(request)
    with app_state(request).db() as db:
        response = service.visible_response(db, principal, response_id)
        survey = service.get_survey(db, response.survey_id)
        audit_event(
            request, db, "survey.response.view", principal=principal, object_type="response", object_id=response_id
        )
        return render_review(request, survey, response, admin_view=True, reopened=reopened is not None)


@router.post("/responses/{response_id}/reopen")
async def reopen(request: Request, response_id: int) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    with state.db() as db:
        response = service.visible_response(db, principal, response_id)
        service.reopen(db, principal, response, state.clock(), note=str(form.get("note", ""))[:500])
        audit_event(
            request, db, "survey.response.reopen", principal=principal, object_type="response", object_id=response_id
        )
    return redirect(f"/admin/responses/{response_id}?reopened=1")


@router.get("/surveys/{survey_id}/export.{fmt}")
def export_responses(request: Request, survey_id: int, fmt: str) -> Response:
    principal = require_admin(request)
    if fmt not in ("csv", "xlsx"):
        raise NotFound()
    require_recent_auth(request, principal)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        stem = f"{survey.survey_key}-{survey.version}-responses"
        audit_event(
            request,
            db,
            "survey.export",
            principal=principal,
            object_type="survey",
            object_id=survey_id,
            detail={"format": fmt},
        )
        if fmt == "csv":
            return _attachment(export.export_csv(db, survey_id), f"{stem}.csv", "text/csv; charset=utf-8")
        return _attachment(
            export.export_xlsx(db, survey_id),
            f"{stem}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )


@router.get("/surveys/{survey_id}/definition.{fmt}")
def export_definition(request: Request, survey_id: int, fmt: str) -> Response:
    principal = require_admin(request)
    with app_state(request).db() as db:
        survey = service.get_survey(db, survey_id)
        defn = service.definition_of(survey)
        audit_event(
            request,
            db,
            "survey.definition.export",
            principal=principal,
            object_type="survey",
            object_id=survey_id,
            detail={"format": fmt},
        )
    stem = f"{defn.id}-{defn.version}"
    if fmt == "json":
        return _attachment(io.dump_json(defn).encode(), f"{stem}.json", "application/json")
    if fmt == "yaml":
        return _attachment(io.dump_yaml(defn).encode(), f"{stem}.yaml", "application/yaml")
    if fmt == "xlsx":
        return _attachment(
            xlsform.write_xlsform(defn),
            f"{stem}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    raise NotFound()


@router.get("/hospitals/import", response_class=HTMLResponse)
def import_page(request: Request) -> Response:
    principal = require_admin(request)
    require_recent_auth(request, principal)
    return render(request, "admin/import_hospitals.html", error=None, result=None, download=None)


@router.post("/hospitals/import", response_class=HTMLResponse)
async def import_upload(request: Request) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    require_recent_auth(request, principal)
    form = await request.form()
    try:
        upload = await _read_upload(form.get("file"), app_state(request).settings.max_upload_bytes, "DH-I102")
        with app_state(request).db() as db:
            result = import_hospitals(db, upload[0] if upload else b"")
            service.target_hospitals_of_active_surveys(db)
            for open_survey in db.scalars(select(Survey).where(Survey.status == SurveyStatus.OPEN)).all():
                _announce_open(request, db, open_survey)  # hospitals added to an open survey are told too
            audit_event(
                request,
                db,
                "hospitals.import",
                principal=principal,
                detail={"created": result.created, "updated": result.updated},
            )
    except UserError as error:
        return render(
            request, "admin/import_hospitals.html", status_code=error.status, error=error, result=None, download=None
        )
    # Activation codes exist only in this response: offered once as a download, never stored in clear.
    download = "data:text/csv;charset=utf-8;base64," + base64.b64encode(accounts_csv(result)).decode()
    return render(request, "admin/import_hospitals.html", error=None, result=result, download=download)


def _announce_open(request: Request, db: Session, survey: Survey) -> None:
    """Notices and e-mails to the survey's target hospitals not yet told that it is open (audited)."""
    state = app_state(request)
    told = notices.announce_open(db, survey, state.settings.public_url(), state.clock())
    if told.notices:
        audit_event(
            request,
            db,
            "ops.notice.send",
            object_type="survey",
            object_id=survey.id,
            detail={"notices": told.notices, "emails": told.emails, "without_address": told.without_address},
        )
