"""FastAPI's native OpenTelemetry stays off even where a deployment configures providers: its logs would carry
exception messages (which may quote answers or health values) and its spans every request's path."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import NoOpTracer, TracerProvider
from starlette.testclient import TestClient


class CountingTracerProvider(TracerProvider):
    """A configured (not the API's deferred default) provider that counts the tracers asked of it."""

    def __init__(self) -> None:
        self.asked = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        self.asked += 1
        return NoOpTracer()


def test_a_configured_tracer_provider_is_not_used(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = CountingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with TestClient(app, base_url="http://testserver") as client:
        assert client.get("/login").status_code == 200
        assert client.get("/no-such-page").status_code == 404
    assert provider.asked == 0


def test_the_check_works_when_telemetry_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same request through a plain FastAPI app (telemetry at its defaults) does ask the provider."""
    provider = CountingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    plain = FastAPI()
    plain.add_api_route("/ping", lambda: {"ok": True})
    with TestClient(plain, base_url="http://testserver") as client:
        assert client.get("/ping").status_code == 200
    assert provider.asked > 0
