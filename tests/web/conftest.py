"""Web fixtures: an app per test on its own database, a movable clock, logged-in clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import factories as f
from datahealth.config import Settings
from datahealth.web.app import create_app
from web_client import AUTHENTICATOR, CSRF, SECRET, SETUP_TOKEN, Browser, MovableClock  # noqa: F401 - fixtures' API


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


@pytest.fixture
def browser(app: FastAPI, clock: MovableClock) -> Iterator[Browser]:
    with TestClient(app, base_url="http://testserver") as client:
        yield Browser(client, clock)


@pytest.fixture
def other_browser(app: FastAPI, clock: MovableClock) -> Iterator[Browser]:
    with TestClient(app, base_url="http://testserver") as client:
        yield Browser(client, clock)
