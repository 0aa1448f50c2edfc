"""Log in (password, then the second factor), re-authenticate, log out, activate, switch language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from datahealth.auth import service as auth
from datahealth.auth.tables import SessionStage
from datahealth.errors import Problem, UserError
from datahealth.web.context import (
    STAGE_PAGES,
    app_state,
    audit_event,
    client_address,
    current_principal,
    redirect,
    render,
    require_pending,
    require_principal,
    session_token,
    verify_csrf,
)
from datahealth.web.i18n import pick_language
from datahealth.web.security import LANG_COOKIE, clear_session_cookie, safe_next, set_session_cookie

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, activated: str | None = None) -> Response:
    principal = current_principal(request)
    if principal is not None:
        return redirect(STAGE_PAGES.get(principal.stage, safe_next(next)))
    return render(request, "auth/login.html", next=safe_next(next), activated=activated is not None, error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    await verify_csrf(request, None)
    form = await request.form()
    login_id, password = str(form.get("login_id", ""))[:64], str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    state = app_state(request)
    with state.db() as db:
        result = auth.attempt_login(db, state.settings, login_id, password, client_address(request), state.clock())
    if result.outcome == auth.LoginOutcome.LOCKED:
        error = UserError(Problem("DH-A111", {"minutes": result.lock_minutes}))
        return render(
            request, "auth/login.html", status_code=429, next=target, activated=False, error=error, login_id=login_id
        )
    if result.outcome == auth.LoginOutcome.BAD_CREDENTIALS:
        return render(
            request,
            "auth/login.html",
            status_code=401,
            next=target,
            activated=False,
            error=UserError(Problem("DH-A101")),
            login_id=login_id,
        )
    pending = STAGE_PAGES.get(result.stage)
    response = redirect(f"{pending}?next={target}" if pending else target)
    set_session_cookie(response, state.settings, result.token)
    return response


@router.get("/login/2fa", response_class=HTMLResponse)
def second_factor_page(request: Request, next: str | None = None) -> Response:
    require_pending(request, SessionStage.SECOND_FACTOR)
    return render(request, "auth/second_factor.html", next=safe_next(next), error=None)


@router.post("/login/2fa", response_class=HTMLResponse)
async def second_factor(request: Request) -> Response:
    principal = require_pending(request, SessionStage.SECOND_FACTOR)
    await verify_csrf(request, principal)
    form = await request.form()
    target = safe_next(str(form.get("next", "/")))
    state = app_state(request)
    with state.db() as db:
        user = auth.user_of(db, principal)
        method = auth.second_factor(db, state.settings, user, str(form.get("code", "")), state.clock())
        if method is None:
            audit_event(request, db, "auth.second_factor", principal=principal, outcome="failure")
        else:
            auth.promote_session(db, session_token(request), state.settings, state.clock())
            audit_event(request, db, "auth.login", principal=principal, detail={"second_factor": method})
    if method is None:
        return render(
            request, "auth/second_factor.html", status_code=401, next=target, error=UserError(Problem("DH-A112"))
        )
    return redirect(target)


@router.get("/reauth", response_class=HTMLResponse)
def reauth_page(request: Request, next: str | None = None) -> Response:
    principal = require_principal(request)
    return render(request, "auth/reauth.html", next=safe_next(next), error=None, two_factor=principal.two_factor)


@router.post("/reauth", response_class=HTMLResponse)
async def reauth(request: Request) -> Response:
    """Enter the password (and second factor, when set up) again before an export or account change."""
    principal = require_principal(request)
    await verify_csrf(request, principal)
    form = await request.form()
    target = safe_next(str(form.get("next", "/")))
    state = app_state(request)
    now = state.clock()
    with state.db() as db:
        user = auth.user_of(db, principal)
        ok = auth.verify_current_password(user, str(form.get("password", "")))
        if ok and user.two_factor_enabled:
            ok = auth.second_factor(db, state.settings, user, str(form.get("code", "")), now) is not None
        if ok:
            auth.mark_reauthenticated(db, session_token(request), state.settings, now)
        audit_event(request, db, "auth.reauthenticate", principal=principal, outcome="success" if ok else "failure")
    if not ok:
        return render(
            request,
            "auth/reauth.html",
            status_code=401,
            next=target,
            two_factor=principal.two_factor,
            error=UserError(Problem("DH-A101" if not principal.two_factor else "DH-A112")),
        )
    return redirect(target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    principal = current_principal(request)
    await verify_csrf(request, principal)
    state = app_state(request)
    with state.db() as db:
        auth.end_session(db, session_token(request))
        if principal is not None:
            audit_event(request, db, "auth.logout", principal=principal)
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
    login_id = str(form.get("login_id", ""))[:64]
    try:
        with state.db() as db:
            user = auth.activate_account(
                db,
                login_id,
                str(form.get("activation_code", "")),
                str(form.get("password", "")),
                str(form.get("password_confirmation", "")),
                state.settings,
                state.clock(),
            )
            audit_event(
                request,
                db,
                "auth.activate",
                object_type="user",
                object_id=user.login_id,
                detail={"login_id": user.login_id},
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
