"""My account: password change, two-factor login set-up, recovery codes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from datahealth.auth import service as auth
from datahealth.auth import totp
from datahealth.auth.tables import Role, SessionStage
from datahealth.errors import Problem, UserError
from datahealth.web.context import (
    app_state,
    audit_event,
    redirect,
    render,
    require_pending,
    require_principal,
    require_recent_auth,
    session_token,
    verify_csrf,
)
from datahealth.web.security import safe_next

router = APIRouter(prefix="/account")
SETUP_TTL_SECONDS = 15 * 60


@router.get("", response_class=HTMLResponse)
def account(request: Request, changed: str | None = None) -> Response:
    principal = require_principal(request)
    with app_state(request).db() as db:
        user = auth.user_of(db, principal)
        remaining = totp.remaining_recovery_codes(db, user)
        return render(
            request,
            "account/index.html",
            user=user,
            remaining=remaining,
            changed=changed,
            required=principal.role in auth.TWO_FACTOR_REQUIRED,
        )


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request) -> Response:
    require_principal(request)
    return render(
        request, "account/password.html", error=None, min_length=app_state(request).settings.password_min_length
    )


@router.post("/password", response_class=HTMLResponse)
async def change_password(request: Request) -> Response:
    principal = require_principal(request)
    await verify_csrf(request, principal)
    form = await request.form()
    state = app_state(request)
    try:
        with state.db() as db:
            user = auth.user_of(db, principal)
            auth.change_password(
                db,
                state.settings,
                user,
                str(form.get("current_password", "")),
                str(form.get("password", "")),
                str(form.get("password_confirmation", "")),
                state.clock(),
            )
            auth.end_other_sessions(db, user.id, session_token(request))
            audit_event(
                request,
                db,
                "account.password_changed",
                principal=principal,
                object_type="user",
                object_id=user.login_id,
            )
    except UserError as error:
        return render(
            request,
            "account/password.html",
            status_code=error.status,
            error=error,
            min_length=state.settings.password_min_length,
        )
    return redirect("/account?changed=password")


def _render_setup(
    request: Request,
    principal: auth.Principal,
    secret: str,
    next_url: str,
    error: UserError | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    uri = totp.provisioning_uri(secret, principal.login_id)
    return render(
        request,
        "account/setup_2fa.html",
        status_code=status_code,
        secret=secret,
        qr=totp.qr_svg(uri),
        setup_token=totp.seal_setup(app_state(request).settings, principal.user_id, secret),
        next=next_url,
        error=error,
        enrolling=principal.stage == SessionStage.ENROLL,
    )


@router.get("/2fa/setup", response_class=HTMLResponse)
def setup_page(request: Request, next: str | None = None) -> Response:
    principal = require_pending(request, SessionStage.ENROLL, SessionStage.FULL)
    if principal.stage == SessionStage.FULL:
        require_recent_auth(request, principal)
    return _render_setup(request, principal, totp.new_secret(), safe_next(next))


@router.post("/2fa/setup", response_class=HTMLResponse)
async def setup(request: Request) -> Response:
    principal = require_pending(request, SessionStage.ENROLL, SessionStage.FULL)
    await verify_csrf(request, principal)
    if principal.stage == SessionStage.FULL:
        require_recent_auth(request, principal)
    form = await request.form()
    next_url = safe_next(str(form.get("next", "/")))
    secret = totp.open_setup(
        app_state(request).settings, principal.user_id, str(form.get("setup_token", "")), SETUP_TTL_SECONDS
    )
    if secret is None:  # expired or tampered: start again with a new secret
        return _render_setup(request, principal, totp.new_secret(), next_url, UserError(Problem("DH-A104")), 400)
    state = app_state(request)
    now = state.clock()
    step = totp.matching_step(secret, str(form.get("code", "")), now)
    if step is None:
        return _render_setup(request, principal, secret, next_url, UserError(Problem("DH-A112")), 400)
    with state.db() as db:
        user = auth.user_of(db, principal)
        totp.enrol(state.settings, user, secret, now, step)
        codes = totp.new_recovery_codes(db, user, now)
        if principal.stage == SessionStage.ENROLL:
            auth.promote_session(db, session_token(request), state.settings, now)
        audit_event(
            request, db, "account.two_factor_enabled", principal=principal, object_type="user", object_id=user.login_id
        )
    return render(request, "account/recovery_codes.html", codes=codes, next=next_url)


@router.post("/2fa/recovery-codes", response_class=HTMLResponse)
async def regenerate_codes(request: Request) -> Response:
    principal = require_principal(request)
    await verify_csrf(request, principal)
    require_recent_auth(request, principal)
    state = app_state(request)
    with state.db() as db:
        user = auth.user_of(db, principal)
        if not user.two_factor_enabled:
            return redirect("/account")
        codes = totp.new_recovery_codes(db, user, state.clock())
        audit_event(
            request,
            db,
            "account.recovery_codes_renewed",
            principal=principal,
            object_type="user",
            object_id=user.login_id,
        )
    return render(request, "account/recovery_codes.html", codes=codes, next="/account")


@router.post("/2fa/disable")
async def disable(request: Request) -> Response:
    principal = require_principal(request)
    await verify_csrf(request, principal)
    if Role(principal.role) in auth.TWO_FACTOR_REQUIRED:
        raise UserError.of("DH-A116")
    require_recent_auth(request, principal)
    state = app_state(request)
    with state.db() as db:
        user = auth.user_of(db, principal)
        user.totp_secret, user.totp_enabled_at, user.totp_last_step = None, None, None
        totp.clear_recovery_codes(db, user)
        audit_event(
            request, db, "account.two_factor_disabled", principal=principal, object_type="user", object_id=user.login_id
        )
    return redirect("/account?changed=2fa")
