"""Per-request context for the thin route handlers: database, principal, language, rendering."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from datahealth.audit import log as audit
from datahealth.audit.log import Outcome
from datahealth.auth.service import Principal, resume_session
from datahealth.auth.tables import Role, SessionStage
from datahealth.clock import Clock
from datahealth.config import Settings
from datahealth.db import transaction
from datahealth.errors import NotAuthenticated, NotFound
from datahealth.exchange.ingest_job import IngestJob, audit_failure, run_job
from datahealth.exchange.ingest_pool import IngestInterrupted, IngestPool
from datahealth.exchange.service import IngestResult
from datahealth.web.i18n import pick_language, translate
from datahealth.web.security import (
    LANG_COOKIE,
    anonymous_csrf_token,
    check_csrf,
    remember_anonymous_csrf,
    session_cookie_name,
)

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    templates: Jinja2Templates
    clock: Clock

    executor: ThreadPoolExecutor | None = None
    """Threads for the hottest path's database work (section saves): lighter than Starlette's thread pool."""
    ingest_pool: IngestPool | None = None
    """Ingest processes for exchange batches (``DATAHEALTH_INGEST_PROCESSES``), started with the app."""

    @contextmanager
    def db(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    async def ingest(self, job: IngestJob) -> IngestResult:
        """Ingest a batch and audit it: in an ingest process when configured, else in a worker thread."""
        if self.settings.ingest_processes:
            if self.ingest_pool is None:  # an app used without its lifespan (a test's own client) starts it here
                self.ingest_pool = IngestPool(self.settings, self.settings.ingest_processes)
            try:
                return await self.ingest_pool.run(job)
            except IngestInterrupted as error:  # the ingest process could not audit it: the web worker does
                await run_in_threadpool(audit_failure, self.sessions, job, error.code)
                raise
        return await run_in_threadpool(run_job, self.sessions, job)

    async def in_thread(self, work: Callable[[], T]) -> T:
        """Run blocking database work in a worker thread (one of ``web_threads``) and wait for it."""
        if self.executor is None:
            self.executor = ThreadPoolExecutor(self.settings.web_threads, thread_name_prefix="datahealth-db")
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.datahealth
    return state


def now(request: Request) -> datetime:
    return app_state(request).clock()


def language(request: Request, principal: Principal | None = None) -> str:
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie:
        return pick_language(cookie)
    return pick_language(principal.locale if principal else None)


_UNRESOLVED = object()


def current_principal(request: Request) -> Principal | None:
    """The logged-in principal, resolved once per request."""
    # Starlette's State keeps attributes in its own mapping (not ``__dict__``): ask it with getattr.
    cached: Principal | None | object = getattr(request.state, "principal", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached  # type: ignore[return-value]
    state = app_state(request)
    if not request.cookies.get(session_cookie_name(state.settings), ""):
        request.state.principal = None
        return None
    with state.db() as db:
        return principal_in(request, db)


def principal_in(request: Request, db: Session) -> Principal | None:
    """The logged-in principal, resolved inside the caller's transaction (once per request, then cached).

    A save resolves the session in its own transaction this way: one transaction per request, not two.
    """
    cached: Principal | None | object = getattr(request.state, "principal", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached  # type: ignore[return-value]
    state = app_state(request)
    token = request.cookies.get(session_cookie_name(state.settings), "")
    principal = resume_session(db, token, state.settings, state.clock()) if token else None
    request.state.principal = principal
    return principal


class StageRedirect(Exception):  # noqa: N818  (a control-flow signal, not an error)
    """The session exists but is not a full login yet: send the person to the step that is missing."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


STAGE_PAGES = {SessionStage.SECOND_FACTOR: "/login/2fa", SessionStage.ENROLL: "/account/2fa/setup"}


def require_principal(request: Request) -> Principal:
    """A fully logged-in principal (password and, where set up or required, the second factor)."""
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticated()
    if principal.stage != SessionStage.FULL:
        raise StageRedirect(STAGE_PAGES[principal.stage])
    return principal


def require_pending(request: Request, *stages: SessionStage) -> Principal:
    """A principal whose session is at one of ``stages`` (the two-factor pages)."""
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticated()
    if principal.stage not in stages:
        raise StageRedirect("/")
    return principal


def require_recent_auth(request: Request, principal: Principal) -> None:
    """Exports and account changes need the password entered again within ``reauth_minutes``."""
    state = app_state(request)
    since = state.clock() - timedelta(minutes=state.settings.reauth_minutes)
    if not principal.reauthenticated_since(since):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise StageRedirect(f"/reauth?next={quote(target, safe='/')}")


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def session_token(request: Request) -> str:
    return request.cookies.get(session_cookie_name(app_state(request).settings), "")


def audit_event(
    request: Request,
    db: Session,
    action: str,
    *,
    principal: Principal | None = None,
    object_type: str = "",
    object_id: str | int = "",
    outcome: Outcome = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what the person did, in the transaction that does it."""
    who = principal or current_principal(request)
    audit.record(
        db,
        actor=who.actor if who else "anonymous",
        role=who.role.value if who else "",
        organisation_id=who.organisation_id if who else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        address=client_address(request),
        detail=detail,
        now=app_state(request).clock(),
    )


def audit_token_event(
    request: Request,
    db: Session,
    token_id: int,
    action: str,
    *,
    object_type: str = "",
    object_id: str | int = "",
    outcome: Outcome = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what an API token's holder did (the actor is the token's id, never the token)."""
    audit.record(
        db,
        actor=f"token:{token_id}",
        role="token",
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        address=client_address(request),
        detail=detail,
        now=app_state(request).clock(),
    )


def require_admin(request: Request) -> Principal:
    principal = require_principal(request)
    if not principal.is_admin:
        # Administration pages do not exist for other roles.
        raise NotFound()
    return principal


def require_hospital(request: Request) -> Principal:
    """Hospital pages exist only for hospital users (fail closed: any other or future role gets 404)."""
    principal = require_principal(request)
    if principal.role != Role.HOSPITAL:
        raise NotFound()
    return principal


async def verify_csrf(request: Request, principal: Principal | None) -> None:
    expected = principal.csrf_token if principal else request.cookies.get("dh_csrf", "")
    await check_csrf(request, expected)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    state = app_state(request)
    principal = current_principal(request)
    lang = language(request, principal)

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    csrf = principal.csrf_token if principal else anonymous_csrf_token(request)
    response = state.templates.TemplateResponse(
        request,
        template,
        {"principal": principal, "lang": lang, "t": t, "csrf_token": csrf, **context},
        status_code=status_code,
    )
    if principal is None:
        remember_anonymous_csrf(request, response, state.settings)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
