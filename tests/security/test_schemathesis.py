"""Schemathesis over the app's OpenAPI document: every JSON API operation, positive and negative data.

Each operation runs against a fresh database holding a small synthetic exchange world (three demo
consortia with records and batches) with a valid API token, so that generated requests reach the
handlers instead of stopping at authentication. Checks: no 5xx, status codes and bodies as
documented, content types as documented, valid data accepted and invalid data refused. The bounded
run here keeps CI fast; ``scripts/fuzz_api.sh`` runs the same with many more examples.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from datahealth.config import Settings
from datahealth.exchange import service
from datahealth.web.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
from api_checks import no_hidden_internal_error, remember  # noqa: E402
from api_world import ApiWorld, build_api_world  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("DATAHEALTH_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> ApiWorld:
    built = build_api_world(session_factory)
    remember(participant_id=built.participant_id, batch_id=built.batch_id)
    return built


@pytest.fixture
def fuzzed_app(settings: Settings, world: ApiWorld) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def api_schema(fuzzed_app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex="^/api/")


def _token(settings: Settings, world: ApiWorld) -> str:
    """SQLite runs as a consortium (may send), PostgreSQL as a researcher (reads all): both in one bounded run."""
    return world.researcher_token if settings.database_url else world.consortium_token


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(hypothesis.HealthCheck), derandomize=True
)
def test_api_answers_as_documented(case: schemathesis.Case, settings: Settings, world: ApiWorld) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_token(settings, world)}"}, additional_checks=[no_hidden_internal_error]
    )


# --- regressions found by schemathesis -------------------------------------------------------------------


@pytest.fixture
def api(fuzzed_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fuzzed_app, base_url="http://testserver") as client:
        yield client


def test_method_not_allowed_lists_every_method_of_the_path(api: TestClient, world: ApiWorld) -> None:
    """Starlette named only the first matching route's methods (``Allow: POST``) and said DH-G500."""
    response = api.request("OPTIONS", "/api/v1/exchange/batches", headers=_bearer(world.consortium_token))
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "POST"}
    assert response.json()["error"]["code"] == "DH-G405"
    page = api.request("DELETE", "/login")
    assert page.status_code == 405 and {"GET", "POST"} <= {m.strip() for m in page.headers["allow"].split(",")}


@pytest.mark.parametrize("value", [" ", "Patient, Device", ""])
def test_fhir_type_list_as_documented_is_accepted(api: TestClient, world: ApiWorld, value: str) -> None:
    """``_type=%20`` matched the documented pattern but was refused (ST202); blank means every type."""
    url = "/api/v1/exchange/fhir/$export"
    response = api.get(url, params={"_type": value}, headers=_bearer(world.consortium_token))
    assert response.status_code == 200


def test_fhir_export_documents_its_errors(fuzzed_app: FastAPI) -> None:
    """404 for another consortium's (or no) data and 401 for a bad token were undocumented (ST103)."""
    documented = fuzzed_app.openapi()["paths"]["/api/v1/exchange/fhir/$export"]["get"]["responses"]
    assert {"400", "401", "404"} <= set(documented)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_hidden_internal_error_check_fails_on_a_batch_that_crashed(
    api: TestClient, world: ApiWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ingest turns any exception into a 201 "rejected" batch with a DH-G500 issue; the fuzz check must see it."""

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service, "_process", crash)
    files = [("files", ("weight.csv", b"consortium_id\nDEMO1\n", "text/csv"))]
    response = api.post("/api/v1/exchange/batches", headers=_bearer(world.consortium_token), files=files)
    assert response.status_code == 201 and response.json()["status"] == "rejected"
    with pytest.raises(AssertionError, match="DH-G500"):
        no_hidden_internal_error(None, schemathesis.Response.from_any(response), None)
    monkeypatch.undo()
    fine = api.get("/api/v1/exchange/batches", headers=_bearer(world.consortium_token))
    assert no_hidden_internal_error(None, schemathesis.Response.from_any(fine), None) is True
