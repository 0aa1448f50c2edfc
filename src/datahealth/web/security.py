"""Cookies, CSRF and security headers for the web shell."""

from __future__ import annotations

import hmac
import json
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datahealth.config import Settings
from datahealth.errors import Forbidden, Problem

ANON_CSRF_COOKIE = "dh_csrf"
LANG_COOKIE = "dh_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix requires Secure, path=/ and no Domain: only usable behind HTTPS.
    return "__Host-dh_session" if settings.secure_cookies else "dh_session"


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        token,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )


def anonymous_csrf_token(request: Request) -> str:
    """The double-submit token for forms shown before login (login, activation)."""
    existing = request.cookies.get(ANON_CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing
    token: str = request.state.__dict__.setdefault("new_anon_csrf", secrets.token_urlsafe(32))
    return token


def remember_anonymous_csrf(request: Request, response: Response, settings: Settings) -> None:
    token = request.state.__dict__.get("new_anon_csrf")
    if token:
        response.set_cookie(
            ANON_CSRF_COOKIE, token, httponly=True, secure=settings.secure_cookies, samesite="strict", path="/"
        )


async def check_csrf(request: Request, expected: str) -> None:
    """Reject a state-changing request whose token (form field or HTMX header) does not match."""
    form = None
    if not request.headers.get(CSRF_HEADER, "") and "form" in request.headers.get("content-type", ""):
        form = await request.form()
    check_csrf_of(request, form, expected)


def check_csrf_of(request: Request, form: FormData | None, expected: str) -> None:
    """:func:`check_csrf` for a request whose form (if any) was read already."""
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied and form is not None:
        value = form.get(CSRF_FIELD, "")
        supplied = value if isinstance(value, str) else ""
    if not expected or not supplied or not hmac.compare_digest(supplied, expected):
        raise Forbidden(Problem("DH-A104"))


_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Add the security headers to every response that does not set its own (pure ASGI: no extra task per request).

    Pages are ``Cache-Control: no-store`` (they show personal or survey data); static files keep their caching.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _SECURITY_HEADERS if name not in present]
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths are followed after login or a language switch."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class BodySizeLimit:
    """Refuse request bodies over the limit with 413 before they are read into memory (pure ASGI)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BaseException as exc:  # Starlette's task groups may wrap the signal in an ExceptionGroup
            if not _is_too_large(exc):
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem("DH-X302", {"maximum": f"{self.max_bytes // (1024 * 1024)} MB"})
        body = json.dumps(
            {"error": {"status": 413, "code": problem.code, "problems": [problem.as_dict()]}}, ensure_ascii=False
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


def _is_too_large(exc: BaseException) -> bool:
    if isinstance(exc, _TooLarge):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_too_large(inner) for inner in exc.exceptions)
    return False
