"""The autosave's direct route (``web.direct_routes``): same answers as its FastAPI route, without FastAPI's
per-request dependency solving; everything the direct route does not match still reaches the FastAPI route."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select

from datahealth.errors import NotFound
from datahealth.survey.tables import Response
from datahealth.web import direct_routes

PATH = "/surveys/{survey_id}/s/{section_name}"


def _save(browser, survey_id: object, value: str = "yes", section: str = "governance"):
    return browser.post(
        f"/surveys/{survey_id}/s/{section}",
        {"_shown": ["q2_1"], "q2_1": value},
        headers={"HX-Request": "true", "Idempotency-Key": f"direct-{value}-{survey_id}-0001"},
    )


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI solved dependencies for (its request handler calls ``solve_dependencies`` every time)."""
    paths: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*, request: Request, **kwargs: Any) -> Any:
        paths.append(request.url.path)
        return await original(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return paths


def test_an_autosave_skips_fastapis_dependency_solving(browser, world, session_factory, solved):
    browser.login("hosp-a")
    page = f"/surveys/{world.survey_id}/s/governance"
    browser.get(page)
    assert page in solved, "the page itself is an ordinary FastAPI route"
    solved.clear()
    saved = _save(browser, world.survey_id)
    assert saved.status_code == 200 and "form-status" in saved.text
    assert solved == []
    with session_factory() as db:
        stored = db.scalar(select(Response).where(Response.organisation_id == world.hospital_a))
    assert stored is not None and stored.answers == {"q2_1": "yes"}


def test_the_route_guards_run_on_the_direct_route(browser, world, monkeypatch: pytest.MonkeyPatch):
    async def refuse(_request: Request) -> None:
        raise NotFound()

    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    monkeypatch.setattr(direct_routes, "ROUTE_GUARDS", [*direct_routes.ROUTE_GUARDS, refuse])
    assert _save(browser, world.survey_id).status_code == 404


@pytest.mark.parametrize("survey_id", ["2147483648", str(2**63), str(10**30), "-1", "0"])
def test_ids_out_of_range_or_unknown_name_nothing(browser, world, survey_id):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    assert _save(browser, survey_id).status_code == 404


def test_what_the_direct_route_does_not_match_reaches_the_fastapi_route(browser, world, app: FastAPI, solved):
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    not_a_number = _save(browser, "abc")
    assert not_a_number.status_code == 400 and "DH-G400" in not_a_number.text
    assert "/surveys/abc/s/governance" in solved
    refused = browser.client.put(f"/surveys/{world.survey_id}/s/governance")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, POST"
    operation = app.openapi()["paths"][PATH]["post"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"survey_id", "section_name"}


def test_a_logged_out_autosave_is_sent_to_the_login_page(browser, world):
    response = _save(browser, world.survey_id)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/login?next=")
