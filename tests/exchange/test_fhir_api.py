"""``GET /api/v1/exchange/fhir/$export``: streamed NDJSON for the caller's own consortium, 404 across tenants."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.observation import Observation
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient
from test_fhir_data import C1, C2, resources, seed_records, seed_registries

import factories as f
from datahealth.auth.tables import Organisation, Role
from datahealth.config import Settings
from datahealth.exchange.fhir_export import export_ndjson
from datahealth.exchange.tokens import ALL_CONSORTIA, create_token, revoke_token
from datahealth.web.app import create_app

URL = "/api/v1/exchange/fhir/$export"
NOW = datetime(2025, 2, 1, 3, tzinfo=UTC)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def tokens(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory.begin() as db:
        seed_registries(db)
        seed_records(db)
        mine = create_token(db, C1, "app", None, NOW)[1]
        theirs = create_token(db, C2, "app", None, NOW)[1]
        everyone = create_token(db, ALL_CONSORTIA, "research", None, NOW)[1]
        revoked_row, revoked = create_token(db, C1, "old", None, NOW)
        revoke_token(db, revoked_row.id, C1, NOW)
        consortium = db.scalar(select(Organisation).where(Organisation.code == C1))
        assert consortium is not None
        f.make_user(db, consortium, "c01-operator", role=Role.CONSORTIUM)
        f.make_user(db, consortium, "c01-researcher", role=Role.RESEARCHER)
        hospital = f.make_org(db)
        f.make_user(db, hospital, "hospital-user")
    return {"mine": mine, "theirs": theirs, "everyone": everyone, "revoked": revoked}


@pytest.fixture
def client(settings: Settings, tokens: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: NOW), base_url="http://testserver") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, login_id: str) -> None:
    page = client.get("/login")
    match = CSRF.search(page.text)
    assert match is not None
    form = {"csrf_token": match.group(1), "login_id": login_id, "password": f.PASSWORD, "next": "/"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_a_consortium_token_streams_its_own_ndjson(
    client: TestClient, tokens: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    response = client.get(URL, headers=bearer(tokens["mine"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    lines = response.text.splitlines()
    with session_factory() as db:
        assert lines == list(export_ndjson(db, consortium_id=C1))
    assert {r["resourceType"] for r in resources(lines)} == {"Patient", "Device", "Observation"}
    for text in lines:
        if text.startswith('{"resourceType":"Observation"'):
            Observation.model_validate_json(text)


def test_one_participant_and_resource_types(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(URL, params={"participant": "P001", "_type": "Observation"}, headers=bearer(tokens["mine"]))
    assert response.status_code == 200
    found = resources(response.text.splitlines())
    assert {r["resourceType"] for r in found} == {"Observation"}
    assert {r["subject"]["identifier"]["value"] for r in found} == {"P001"}
    bad = client.get(URL, params={"_type": "Bundle"}, headers=bearer(tokens["mine"]))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "DH-G400"


@pytest.mark.parametrize(
    "params",
    [{"participant": "Q001"}, {"participant": "NOBODY"}, {"consortium": C2}, {"consortium": C2, "participant": "Q001"}],
)
def test_another_tenant_looks_like_nothing(client: TestClient, tokens: dict[str, str], params: dict[str, str]) -> None:
    response = client.get(URL, params=params, headers=bearer(tokens["mine"]))
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


def test_without_a_valid_token_or_session_it_is_401(client: TestClient, tokens: dict[str, str]) -> None:
    for headers in ({}, bearer(tokens["revoked"]), bearer("dhx_not-a-token"), {"Authorization": "Basic abc"}):
        response = client.get(URL, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "DH-X301"


def test_the_other_consortium_gets_only_its_own(client: TestClient, tokens: dict[str, str]) -> None:
    found = resources(client.get(URL, headers=bearer(tokens["theirs"])).text.splitlines())
    assert {r["identifier"][0]["value"] for r in found if r["resourceType"] == "Patient"} == {"Q001"}


def test_a_research_token_exports_nothing(client: TestClient, tokens: dict[str, str]) -> None:
    """A read-only token for every consortium reads aggregates only: the export of individuals is 404,
    whatever it names (exactly like a consortium that does not exist)."""
    for params in ({}, {"consortium": C2}, {"consortium": C1, "participant": "P001"}, {"_type": "Device"}):
        response = client.get(URL, params=params, headers=bearer(tokens["everyone"]))
        assert response.status_code == 404, params
        assert "P001" not in response.text and "Q001" not in response.text
    missing = client.get(URL, params={"consortium": "NOPE"}, headers=bearer(tokens["everyone"]))
    assert missing.status_code == 404
    assert client.get(URL, params={"consortium": C2}, headers=bearer(tokens["everyone"])).json() == missing.json()


def test_logged_in_people(client: TestClient, tokens: dict[str, str]) -> None:
    login(client, "c01-researcher")  # aggregates only: no export of individuals
    for params in ({}, {"consortium": C2}, {"consortium": C1, "participant": "P001"}):
        response = client.get(URL, params=params)
        assert response.status_code == 404 and '"Q001"' not in response.text and '"P001"' not in response.text
    client.cookies.clear()

    login(client, "c01-operator")
    own = client.get(URL)
    assert own.status_code == 200 and '"P001"' in own.text and '"Q001"' not in own.text
    assert client.get(URL, params={"consortium": C2}).status_code == 404
    client.cookies.clear()

    login(client, "hospital-user")
    assert client.get(URL).status_code == 404
