"""Web fixtures: an app per test on its own database, a movable clock, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import factories as f
from datahealth.config import Settings
from datahealth.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class MovableClock:
    moment: datetime = field(default_factory=lambda: datetime(2025, 2, 1, 3, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def app(settings: Settings, clock: MovableClock) -> FastAPI:
    return create_app(settings, clock=clock)


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> f.World:
    with session_factory.begin() as db:
        return f.make_world(db)


class Browser:
    """A TestClient that knows the page's CSRF token, like a person's browser tab."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        response = self.client.get(url, **kwargs)  # type: ignore[arg-type]
        match = CSRF.search(response.text)
        if match:
            self.csrf = match.group(1)
        return response

    def post(self, url: str, data: dict[str, object] | None = None, **kwargs: object) -> httpx.Response:
        payload = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=payload, **kwargs)  # type: ignore[arg-type]

    def login(self, login_id: str, password: str = f.PASSWORD) -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"login_id": login_id, "password": password, "next": "/"})


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Browser]:
    with TestClient(app, base_url="http://testserver") as client:
        yield Browser(client)


@pytest.fixture
def other_browser(app: FastAPI) -> Iterator[Browser]:
    with TestClient(app, base_url="http://testserver") as client:
        yield Browser(client)
