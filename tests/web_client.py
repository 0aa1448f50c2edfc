"""A logged-in test browser (``Browser``) and a movable clock, shared by the web, operations and report tests.

A plain module rather than conftest.py content, so test modules import it by name wherever pytest collects them
(``from conftest import Browser`` resolved to whichever conftest.py was imported first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
from starlette.testclient import TestClient

import factories as f

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
SETUP_TOKEN = re.compile(r'name="setup_token" value="([^"]+)"')
AUTHENTICATOR: dict[str, str] = {}
"""The test person's authenticator app: login id → TOTP secret, filled at enrolment."""


@dataclass
class MovableClock:
    moment: datetime = field(default_factory=lambda: datetime(2025, 2, 1, 3, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment


class Browser:
    """A TestClient that knows the page's CSRF token, like a person's browser tab.

    ``login`` completes two-factor login the way a person with an authenticator app would: it enrols
    when the role requires it (remembering the secret, as the app does) and types the current code,
    moving the shared clock to the next 30-second step first, since a code is accepted only once.
    """

    def __init__(self, client: TestClient, clock: MovableClock) -> None:
        self.client = client
        self.clock = clock
        self.csrf = ""

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        response = self.client.get(url, **kwargs)  # type: ignore[arg-type]
        match = CSRF.search(response.text)
        if match:
            self.csrf = match.group(1)
        return response

    def post(self, url: str, data: dict[str, object] | None = None, **kwargs: object) -> httpx.Response:
        payload = {"csrf_token": self.csrf, **(data or {})}
        response = self.client.post(url, data=payload, **kwargs)  # type: ignore[arg-type]
        match = CSRF.search(response.text)
        if match:
            self.csrf = match.group(1)
        return response

    def login(self, login_id: str, password: str = f.PASSWORD) -> httpx.Response:
        self.get("/login")
        response = self.post("/login", {"login_id": login_id, "password": password, "next": "/"})
        if response.url.path == "/account/2fa/setup":
            secret = SECRET.search(response.text)
            assert secret is not None
            AUTHENTICATOR[login_id] = secret.group(1)
            token = SETUP_TOKEN.search(response.text)
            assert token is not None
            self.csrf = CSRF.search(response.text).group(1)  # type: ignore[union-attr]
            response = self.post(
                "/account/2fa/setup", {"setup_token": token.group(1), "next": "/", "code": self.totp_code(login_id)}
            )
            return self.get("/")
        if response.url.path == "/login/2fa":
            match = CSRF.search(response.text)
            if match:
                self.csrf = match.group(1)
            return self.post("/login/2fa", {"code": self.totp_code(login_id), "next": "/"})
        return response

    def totp_code(self, login_id: str) -> str:
        secret = AUTHENTICATOR.get(login_id, f.TOTP_SECRET)
        self.clock.moment += timedelta(seconds=30)
        return pyotp.TOTP(secret).at(self.clock.moment)

    def reauth(self, password: str = f.PASSWORD, login_id: str | None = None) -> httpx.Response:
        self.get("/reauth")
        data: dict[str, object] = {"password": password, "next": "/"}
        if login_id is not None:
            data["code"] = self.totp_code(login_id)
        return self.post("/reauth", data)
