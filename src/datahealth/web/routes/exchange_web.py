"""Exchange pages: my batches, a batch's result, upload from the browser, API tokens, data quality,
and (administrators) consortia and their accounts. A thin shell over the exchange services.

Consortium operators see only their own consortium; researchers and administrators see every
consortium through a selector. Researchers see aggregates only (batch summaries, issue counts, the
data-quality figures with small groups suppressed): ``exchange.access`` answers 404 to their record-level
reads (issue rows, the issue report). Everything works without JavaScript; state changes are POST + CSRF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from datahealth.analytics.suppression import THRESHOLD
from datahealth.auth.service import Principal
from datahealth.auth.tables import Role
from datahealth.clock import jst_date
from datahealth.errors import NotFound, PayloadTooLarge, Problem, UnsupportedMediaType, UserError
from datahealth.exchange import access, consortia, quality, spec, tokens
from datahealth.exchange.consortia import ExchangeScope
from datahealth.exchange.ingest_job import Actor, IngestJob
from datahealth.exchange.service import Sender, Upload
from datahealth.web.context import (
    app_state,
    audit_event,
    client_address,
    redirect,
    render,
    require_admin,
    require_principal,
    verify_csrf,
)
from datahealth.web.params import PageNumber, one_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
ISSUE_PAGE_SIZE = 100
UPLOAD_SUFFIXES = (".csv", ".json", ".ndjson")
COUNT_KEYS = ("received", "stored", "replaced", "unchanged", "stale", "conflict", "rejected", "flagged")


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    scope: ExchangeScope
    choices: list[tuple[str, str]]
    """Consortia a reader of all may pick from (empty for an operator)."""
    selected: str | None
    """The consortium shown: the operator's own, or the reader's choice (``None``: all)."""

    @property
    def label(self) -> str:
        return f"user:{self.principal.login_id}"

    @property
    def reader(self) -> access.Reader:
        return access.session_reader(self.principal.role, self.scope.consortium_id)


def _viewer(request: Request, db: Session, consortium: str | None = None) -> Viewer:
    principal = require_principal(request)
    scope = consortia.scope_of(db, principal)
    if scope is None:
        raise NotFound()
    if scope.consortium_id is not None:
        # An operator may name only their own consortium (any other, existing or not: the same 400).
        one_of(consortium, {scope.consortium_id}, "consortium")
        return Viewer(principal, scope, [], scope.consortium_id)
    choices = consortia.consortium_choices(db)
    selected = one_of(consortium, {code for code, _name in choices}, "consortium")
    return Viewer(principal, scope, choices, selected)


def _attachment(content: bytes, filename: str, media_type: str) -> Response:
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _pages(total: int, size: int) -> int:
    return max(1, -(-total // size))


# --- batches -----------------------------------------------------------------------------------------


@router.get("/exchange", response_class=HTMLResponse)
def batches_page(request: Request, consortium: str | None = None, page: PageNumber = 1) -> Response:
    with app_state(request).db() as db:
        viewer = _viewer(request, db, consortium)
        rows, total = access.list_batches(
            db, viewer.reader, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, only=viewer.selected
        )
        batches = [(batch, _totals(batch.counts or {})) for batch in rows]
        audit_event(
            request,
            db,
            "exchange.batches.view",
            principal=viewer.principal,
            object_type="consortium",
            object_id=viewer.selected or "*",
            detail={"page": page},
        )
    return render(
        request,
        "exchange/batches.html",
        viewer=viewer,
        batches=batches,
        total=total,
        page=page,
        pages=_pages(total, PAGE_SIZE),
        tab="batches",
    )


def _totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    return {key: sum(int(per_type.get(key, 0)) for per_type in counts.values()) for key in COUNT_KEYS}


@router.get("/exchange/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request, batch_id: str, severity: str = "", page: PageNumber = 1, sent: str | None = None
) -> Response:
    chosen = one_of(severity, ("error", "flag"), "severity")
    with app_state(request).db() as db:
        viewer = _viewer(request, db)
        reader = viewer.reader
        batch = access.get_batch(db, reader, batch_id)
        if reader.records:
            issues, total = access.batch_issues(
                db, reader, batch, limit=ISSUE_PAGE_SIZE, offset=(page - 1) * ISSUE_PAGE_SIZE, severity=chosen
            )
        else:  # aggregates only: counts per code and field, no values or locators
            issues, total = [], 0
        summary = access.issue_summary(db, reader, batch)
        by_severity = access.issue_counts(db, batch.id)
        audit_event(
            request, db, "exchange.batch.view", principal=viewer.principal, object_type="batch", object_id=batch.id
        )
    counts = batch.counts or {}
    return render(
        request,
        "exchange/batch.html",
        viewer=viewer,
        batch=batch,
        counts=counts,
        totals=_totals(counts),
        count_keys=COUNT_KEYS,
        issues=issues,
        total=total,
        by_severity=by_severity,
        summary=summary,
        records=reader.records,
        severity=chosen or "",
        page=page,
        pages=_pages(total, ISSUE_PAGE_SIZE),
        sent=sent is not None,
        tab="batches",
    )


@router.get("/exchange/batches/{batch_id}/issues.csv")
def batch_issues_csv(request: Request, batch_id: str) -> Response:
    with app_state(request).db() as db:
        viewer = _viewer(request, db)
        batch, content = access.issues_report(db, viewer.reader, batch_id)
        audit_event(
            request,
            db,
            "exchange.batch.issues_export",
            principal=viewer.principal,
            object_type="batch",
            object_id=batch.id,
            detail={"bytes": len(content)},
        )
    return _attachment(content, f"issues-{batch.id}.csv", "text/csv; charset=utf-8")


# --- upload ------------------------------------------------------------------------------------------


@router.get("/exchange/upload", response_class=HTMLResponse)
def upload_page(request: Request) -> Response:
    with app_state(request).db() as db:
        viewer = _viewer(request, db)
    if not viewer.scope.can_send:
        raise NotFound()
    return render(request, "exchange/upload.html", viewer=viewer, error=None, tab="upload")


async def _form_uploads(request: Request, limit: int) -> tuple[list[Upload], bool]:
    form = await request.form()
    uploads: list[Upload] = []
    size = 0
    for value in form.getlist("files"):
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        name = value.filename.replace("\\", "/").rsplit("/", 1)[-1][:100]
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            raise UnsupportedMediaType(Problem("DH-X303", {"value": name}, field="files"))
        data = await value.read(limit - size + 1)
        size += len(data)
        if size > limit:
            raise PayloadTooLarge(Problem("DH-X302", {"maximum": f"{limit / (1024 * 1024):.1f} MiB"}))
        uploads.append(Upload(name=name, data=data))
    if not uploads:
        raise UserError(Problem("DH-G400", {"field": "files / ファイル"}, field="files"))
    return uploads, form.get("strict") == "1"


def _upload_refused(request: Request, viewer: Viewer, error: UserError) -> Response:
    return render(request, "exchange/upload.html", status_code=error.status, viewer=viewer, error=error, tab="upload")


@router.post("/exchange/upload", response_class=HTMLResponse)
async def upload(request: Request) -> Response:
    principal = require_principal(request)
    state = app_state(request)
    with state.db() as db:
        viewer = _viewer(request, db)
    if not viewer.scope.can_send:
        raise NotFound()
    limit = state.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > limit + 64 * 1024:
            raise PayloadTooLarge(Problem("DH-X302", {"maximum": f"{limit / (1024 * 1024):.1f} MiB"}))
        await verify_csrf(request, principal)
        uploads, strict = await _form_uploads(request, limit)
    except UserError as error:
        with state.db() as db:
            audit_event(
                request,
                db,
                "exchange.batch.ingest",
                principal=principal,
                outcome="failure",
                object_type="consortium",
                object_id=viewer.scope.consortium_id or "",
                detail={"channel": "web", "error": error.code},
            )
        return _upload_refused(request, viewer, error)
    job = IngestJob(
        sender=Sender(viewer.scope.consortium_id, viewer.label),
        uploads=uploads,
        channel="web",
        strict=strict,
        idempotency_key=None,
        now=state.clock(),
        who=Actor(principal.actor, principal.role.value, client_address(request), principal.organisation_id),
    )
    try:
        result = await state.ingest(job)
    except UserError as error:  # audited by the job
        return _upload_refused(request, viewer, error)
    batch_id = result.duplicate_of or result.batch_id
    return redirect(f"/exchange/batches/{batch_id}?sent=1")


# --- tokens ------------------------------------------------------------------------------------------


def _token_owner(viewer: Viewer) -> tuple[str | None, int | None, bool]:
    """(consortium filter, creator filter, may create) for the token page."""
    if viewer.scope.consortium_id is not None:
        return viewer.scope.consortium_id, None, True
    if viewer.principal.role == Role.RESEARCHER:
        return tokens.ALL_CONSORTIA, viewer.principal.user_id, True
    return None, None, False  # the secretariat sees and revokes every token


def _tokens_page(
    request: Request,
    db: Session,
    viewer: Viewer,
    *,
    status_code: int = 200,
    created: str | None = None,
    error: UserError | None = None,
    revoked: bool = False,
) -> Response:
    consortium_id, creator, may_create = _token_owner(viewer)
    rows = tokens.list_tokens(db, consortium_id, created_by=creator)
    return render(
        request,
        "exchange/tokens.html",
        status_code=status_code,
        viewer=viewer,
        tokens=rows,
        may_create=may_create,
        created=created,
        error=error,
        revoked=revoked,
        tab="tokens",
    )


@router.get("/exchange/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, revoked: str | None = None) -> Response:
    with app_state(request).db() as db:
        viewer = _viewer(request, db)
        return _tokens_page(request, db, viewer, revoked=revoked is not None)


@router.post("/exchange/tokens", response_class=HTMLResponse)
async def create_token(request: Request) -> Response:
    principal = require_principal(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    with state.db() as db:
        viewer = _viewer(request, db)
        consortium_id, _creator, may_create = _token_owner(viewer)
        if not may_create or consortium_id is None:
            raise NotFound()
        try:
            token, plaintext = tokens.create_token(
                db, consortium_id, str(form.get("name", "")), principal.user_id, state.clock()
            )
            audit_event(
                request,
                db,
                "exchange.token.create",
                principal=principal,
                object_type="api_token",
                object_id=token.id,
                detail={"consortium": consortium_id},
            )
        except UserError as error:
            return _tokens_page(request, db, viewer, error=error, status_code=error.status)
        # The plain text exists only in this response.
        return _tokens_page(request, db, viewer, created=plaintext)


@router.post("/exchange/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: int) -> Response:
    principal = require_principal(request)
    await verify_csrf(request, principal)
    state = app_state(request)
    with state.db() as db:
        viewer = _viewer(request, db)
        consortium_id, creator, _may_create = _token_owner(viewer)
        if creator is not None and not any(
            t.id == token_id for t in tokens.list_tokens(db, consortium_id, created_by=creator)
        ):
            raise NotFound()
        tokens.revoke_token(db, token_id, consortium_id, state.clock())
        audit_event(
            request, db, "exchange.token.revoke", principal=principal, object_type="api_token", object_id=token_id
        )
    return redirect("/exchange/tokens?revoked=1")


# --- data quality ------------------------------------------------------------------------------------


@router.get("/exchange/quality", response_class=HTMLResponse)
def quality_page(request: Request, consortium: str | None = None) -> Response:
    state = app_state(request)
    with state.db() as db:
        viewer = _viewer(request, db, consortium)
        report = access.quality_report(db, viewer.reader, viewer.selected, jst_date(state.clock()))
        audit_event(
            request,
            db,
            "exchange.quality.view",
            principal=viewer.principal,
            object_type="consortium",
            object_id=viewer.selected or "*",
        )
    labels = {record.name: (record.ja, record.en) for record in spec.RECORDS}
    return render(
        request,
        "exchange/quality.html",
        viewer=viewer,
        report=report,
        labels=labels,
        threshold=THRESHOLD,
        tab="quality",
    )


@router.get("/exchange/quality.xlsx")
def quality_xlsx(request: Request, consortium: str | None = None) -> Response:
    state = app_state(request)
    with state.db() as db:
        viewer = _viewer(request, db, consortium)
        today = jst_date(state.clock())
        report = access.quality_report(db, viewer.reader, viewer.selected, today)
        content = quality.report_xlsx(report)
        audit_event(
            request,
            db,
            "exchange.quality.export",
            principal=viewer.principal,
            object_type="consortium",
            object_id=viewer.selected or "*",
            detail={"bytes": len(content)},
        )
    return _attachment(
        content,
        f"quality-{viewer.selected or 'all'}-{today:%Y%m%d}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- administration: consortia and accounts -----------------------------------------------------------


def _consortia_page(
    request: Request,
    db: Session,
    *,
    status_code: int = 200,
    error: UserError | None = None,
    account: consortia.NewAccount | None = None,
    created: str | None = None,
) -> Response:
    return render(
        request,
        "exchange/consortia.html",
        status_code=status_code,
        rows=consortia.list_consortia(db),
        error=error,
        account=account,
        created=created,
        tab="consortia",
    )


@router.get("/admin/exchange/consortia", response_class=HTMLResponse)
def consortia_page(request: Request) -> Response:
    require_admin(request)
    with app_state(request).db() as db:
        return _consortia_page(request, db)


@router.post("/admin/exchange/consortia", response_class=HTMLResponse)
async def create_consortium(request: Request) -> Response:
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        with state.db() as db:
            org = consortia.create_consortium(db, str(form.get("consortium_id", "")), str(form.get("name", "")))
            account = consortia.create_operator(
                db, org.code, str(form.get("login_id", "")).strip(), str(form.get("display_name", ""))
            )
            created = org.code
            audit_event(
                request,
                db,
                "exchange.consortium.create",
                principal=principal,
                object_type="consortium",
                object_id=org.code,
            )
            _audit_account(request, db, account, "consortium")
    except UserError as error:
        with state.db() as db:
            return _consortia_page(request, db, error=error, status_code=error.status)
    with state.db() as db:
        return _consortia_page(request, db, account=account, created=created)


@router.post("/admin/exchange/consortia/{consortium_id}/operators", response_class=HTMLResponse)
async def add_operator(request: Request, consortium_id: str) -> Response:
    return await _create_account(
        request,
        "consortium",
        lambda db, principal, form: consortia.create_operator(
            db, consortium_id, _field(form, "login_id").strip(), _field(form, "display_name")
        ),
    )


@router.post("/admin/exchange/researchers", response_class=HTMLResponse)
async def add_researcher(request: Request) -> Response:
    return await _create_account(
        request,
        "researcher",
        lambda db, principal, form: consortia.create_researcher(
            db, principal.organisation_id, _field(form, "login_id"), _field(form, "display_name")
        ),
    )


@router.post("/admin/exchange/insurers", response_class=HTMLResponse)
async def add_insurer(request: Request) -> Response:
    return await _create_account(
        request,
        "insurer",
        lambda db, principal, form: consortia.create_insurer(
            db,
            _field(form, "insurer_number"),
            _field(form, "insurer_name"),
            _field(form, "login_id"),
            _field(form, "display_name"),
        ),
    )


AccountMaker = Callable[[Session, Principal, FormData], consortia.NewAccount]


async def _create_account(request: Request, role: str, make: AccountMaker) -> Response:
    """The secretariat's account forms: admin + CSRF, create and audit in one transaction, redisplay the page."""
    principal = require_admin(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        with state.db() as db:
            account = make(db, principal, form)
            _audit_account(request, db, account, role)
    except UserError as error:
        with state.db() as db:
            return _consortia_page(request, db, error=error, status_code=error.status)
    with state.db() as db:
        return _consortia_page(request, db, account=account)


def _field(form: FormData, name: str) -> str:
    return str(form.get(name, ""))


def _audit_account(request: Request, db: Session, account: consortia.NewAccount, role: str) -> None:
    """An account created by the secretariat (the activation code is never recorded)."""
    audit_event(request, db, "account.create", object_type="user", object_id=account.login_id, detail={"role": role})
