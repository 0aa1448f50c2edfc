"""Per-request context for the thin route handlers: database, principal, language, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from datahealth.auth.service import Principal, resume_session
from datahealth.clock import Clock
from datahealth.config import Settings
from datahealth.db import transaction
from datahealth.errors import NotAuthenticated, NotFound
from datahealth.web.i18n import pick_language, translate
from datahealth.web.security import (
    LANG_COOKIE,
    anonymous_csrf_token,
    check_csrf,
    remember_anonymous_csrf,
    session_cookie_name,
)


@dataclass
class AppState:
    settings: Settings
    sessions: sessionmaker[Session]
    templates: Jinja2Templates
    clock: Clock

    @contextmanager
    def db(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session


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


def current_principal(request: Request) -> Principal | None:
    """The logged-in principal, resolved once per request."""
    if "principal" in request.state.__dict__:
        cached: Principal | None = request.state.principal
        return cached
    state = app_state(request)
    token = request.cookies.get(session_cookie_name(state.settings), "")
    principal = None
    if token:
        with state.db() as db:
            principal = resume_session(db, token, state.settings, state.clock())
    request.state.principal = principal
    return principal


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise NotAuthenticated()
    return principal


def require_admin(request: Request) -> Principal:
    principal = require_principal(request)
    if not principal.is_admin:
        # Administration pages do not exist for other roles.
        raise NotFound()
    return principal


def require_hospital(request: Request) -> Principal:
    principal = require_principal(request)
    if principal.is_admin:
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
