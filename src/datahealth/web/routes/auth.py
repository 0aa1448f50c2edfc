"""Log in, log out, activate an imported account, switch language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from datahealth.auth import service as auth
from datahealth.errors import UserError
from datahealth.web.context import app_state, current_principal, redirect, render, verify_csrf
from datahealth.web.i18n import pick_language
from datahealth.web.security import (
    LANG_COOKIE,
    clear_session_cookie,
    safe_next,
    session_cookie_name,
    set_session_cookie,
)

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, activated: str | None = None) -> Response:
    if current_principal(request) is not None:
        return redirect(safe_next(next))
    return render(request, "auth/login.html", next=safe_next(next), activated=activated is not None, error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    await verify_csrf(request, None)
    form = await request.form()
    login_id, password = str(form.get("login_id", "")), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    state = app_state(request)
    try:
        with state.db() as db:
            user = auth.authenticate(db, login_id, password, state.clock())
            token = auth.start_session(db, user, state.settings, state.clock())
    except UserError as error:
        return render(
            request, "auth/login.html", status_code=401, next=target, activated=False, error=error, login_id=login_id
        )
    response = redirect(target)
    set_session_cookie(response, state.settings, token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    principal = current_principal(request)
    await verify_csrf(request, principal)
    state = app_state(request)
    with state.db() as db:
        auth.end_session(db, request.cookies.get(session_cookie_name(state.settings), ""))
    response = redirect("/login")
    clear_session_cookie(response, state.settings)
    return response


@router.get("/activate", response_class=HTMLResponse)
def activate_page(request: Request) -> Response:
    return render(request, "auth/activate.html", error=None, min_length=app_state(request).settings.password_min_length)


@router.post("/activate", response_class=HTMLResponse)
async def activate(request: Request) -> Response:
    await verify_csrf(request, None)
    form = await request.form()
    state = app_state(request)
    login_id = str(form.get("login_id", ""))
    try:
        with state.db() as db:
            auth.activate_account(
                db,
                login_id,
                str(form.get("activation_code", "")),
                str(form.get("password", "")),
                str(form.get("password_confirmation", "")),
                state.settings,
            )
    except UserError as error:
        return render(
            request,
            "auth/activate.html",
            status_code=error.status,
            error=error,
            login_id=login_id,
            min_length=state.settings.password_min_length,
        )
    return redirect("/login?activated=1")


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str | None = None) -> Response:
    response = redirect(safe_next(next))
    response.set_cookie(
        LANG_COOKIE,
        pick_language(code),
        max_age=365 * 86400,
        samesite="lax",
        httponly=True,
        secure=app_state(request).settings.secure_cookies,
        path="/",
    )
    return response
