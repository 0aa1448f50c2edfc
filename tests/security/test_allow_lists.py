"""Sort, filter, page and status parameters come from allow-lists: an unknown value is a catalogued 4xx.

Generated from the routes' declared query parameters: every parameter must be classified below (a new
parameter fails ``test_every_query_parameter_is_classified`` until someone decides what it accepts).

- ``SELECTORS`` choose among fixed values (status, band, prefecture, outcome, severity, view, record type,
  page, dates, consortium…): unknown values answer 4xx with a catalogued code, in the HTML error page or
  the JSON envelope, never a 5xx and never an empty page that pretends the filter worked.
- ``ID_FILTERS`` compare for equality with a pattern-checked id (unknown ids: 4xx or nothing found).
- ``FREE_TEXT`` searches are bound parameters: SQL in them finds nothing and breaks nothing.
- ``FLAGS`` only switch a notice on or off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.routing import APIRoute
from tenants import (
    Tenants,
    tenants_fixture,  # noqa: F401  (registers the fixture)
)

from datahealth.errors import CATALOGUE

SELECTORS = {
    "outcome",
    "status",
    "band",
    "prefecture",
    "severity",
    "view",
    "question",
    "type",
    "_type",
    "page",
    "page_no",
    "limit",
    "offset",
    "day_from",
    "day_to",
    "from",
    "to",
    "consortium",
    "strict",
    # survey operations: inquiry desk, mail status/kind, the survey a mail list is filtered to
    "category",
    "kind",
    "survey",
}
ID_FILTERS = {"consortium_id", "participant"}
FREE_TEXT = {"actor", "action", "object_type", "object_id", "q", "next"}
FLAGS = {"saved", "sent", "created", "updated", "reopened", "revoked", "activated", "changed"}
FLAGS |= {"done", "n", "emails", "already", "retried"}  # survey operations: counts shown in the done notice

UNKNOWN = ("zzz-unknown", "' OR '1'='1", "1; DROP TABLE users --", "-1", "1" + "0" * 30, "%00", "ＺＺ")
SQL_ERRORS = re.compile(r"syntax error|sqlite3|psycopg|OperationalError|ProgrammingError|Traceback", re.I)
CODE = re.compile(r"DH-[A-Z][0-9]{3}")


def _routes(t: Tenants) -> Iterator[tuple[str, str, list[str]]]:
    for router_route in _api_routes(t):
        names = [p.alias for p in router_route.dependant.query_params]
        for dep in router_route.dependant.dependencies:
            names += [p.alias for p in dep.query_params]
        if names:
            for method in router_route.methods:
                yield method, router_route.path, names


def _api_routes(t: Tenants) -> list[APIRoute]:
    found: list[APIRoute] = []

    def walk(routes: list[object]) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes)
            elif isinstance(route, APIRoute):
                found.append(route)

    walk(list(t.app.routes))
    return found


def test_every_query_parameter_is_classified(tenants: Tenants) -> None:
    classified = SELECTORS | ID_FILTERS | FREE_TEXT | FLAGS
    declared = {name for _m, _p, names in _routes(tenants) for name in names}
    assert declared - classified == set(), "classify these query parameters in test_allow_lists.py"
    assert classified - declared == set(), "classified parameters no route declares any more"


def _caller(path: str) -> str:
    if path.startswith("/api/"):
        return "token-a"
    if path.startswith(("/admin", "/exchange")):
        return "admin" if path.startswith("/admin") else "op-a"
    if path.startswith(("/surveys", "/inquiries", "/notices")):
        return "hosp-a"
    return "admin"


def _url(t: Tenants, path: str) -> str:
    values = {
        "survey_id": str(t.ids["survey_open"]),
        "section_name": t.section,
        "response_id": str(t.ids["response_a"]),
        "batch_id": str(t.ids["batch_a"]),
        "participant_id": "PA0001",
        "code": "ja",
        "kind": "xlsx",
        "fmt": "csv",
        "organisation_id": str(t.ids["hospital_a"]),
        "inquiry_id": str(t.ids["inquiry_a"]),
        "notice_id": str(t.ids["notice_a"]),
    }
    return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], path)


def _catalogued(body: str) -> bool:
    return any(code in CATALOGUE for code in CODE.findall(body))


def _cases(t: Tenants, kinds: set[str]) -> list[tuple[str, str, str]]:
    return [
        (path, name, value)
        for method, path, names in _routes(t)
        if method == "GET"
        for name in names
        if name in kinds
        for value in UNKNOWN
    ]


def test_unknown_selector_values_are_catalogued_4xx(tenants: Tenants) -> None:
    problems = []
    for path, name, value in _cases(tenants, SELECTORS):
        with tenants.client(_caller(path)) as client:
            url = f"{_url(tenants, path)}?{urlencode({name: value})}"
            response = client.get(url)
            body = response.text
            if not 400 <= response.status_code < 500 or not _catalogued(body):
                problems.append(f"{url} → {response.status_code}")
            if path.startswith("/api/") and "error" not in response.json():
                problems.append(f"{url}: not the JSON error envelope")
            if SQL_ERRORS.search(body):
                problems.append(f"{url}: database error text in the body")
    assert not problems, "\n".join(problems)


def test_id_filters_free_text_and_flags_never_break(tenants: Tenants) -> None:
    problems = []
    for path, name, value in _cases(tenants, ID_FILTERS | FREE_TEXT | FLAGS):
        with tenants.client(_caller(path)) as client:
            url = f"{_url(tenants, path)}?{urlencode({name: value})}"
            response = client.get(url)
            if response.status_code >= 500 or SQL_ERRORS.search(response.text):
                problems.append(f"{url} → {response.status_code}")
            if name in ID_FILTERS and response.status_code == 200 and "PA0001" in response.text:
                problems.append(f"{url}: an unknown id matched data")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("payload", ["' OR '1'='1", "%", "_", "\\"])
def test_search_text_is_a_bound_parameter(tenants: Tenants, payload: str) -> None:
    """The response list's search matches literally: SQL or LIKE wildcards find no hospital."""
    with tenants.client("admin") as client:
        page = client.get(f"/admin/surveys/{tenants.ids['survey_open']}/responses?{urlencode({'q': payload})}")
        assert page.status_code == 200
        assert "Alpha-Hospital-MK" not in page.text and "Beta-Hospital-MK" not in page.text
        found = client.get(f"/admin/surveys/{tenants.ids['survey_open']}/responses?q=Beta-Hospital")
        assert "Beta-Hospital-MK" in found.text


def test_operations_selectors_and_ids_fail_closed(tenants: Tenants) -> None:
    """Regressions of survey operations: a huge mail page was a 500, an unknown question a 200 form, an
    unknown survey filter an empty list; retried ids past the id range reached the database."""
    survey = tenants.ids["survey_open"]
    cases = [
        ("admin", f"/admin/mail?page={10**30}", "DH-G400"),
        ("admin", "/admin/mail?survey=999999", "DH-A121"),
        ("admin", f"/admin/mail?survey={10**30}", "DH-A121"),
        ("admin", "/admin/mail?kind=zzz", "DH-A121"),
        ("admin", "/admin/inquiries?category=zzz", "DH-A121"),
        ("hosp-a", f"/surveys/{survey}/inquiries/new?question=no_such_question", "DH-A121"),
        ("hosp-a", f"/surveys/{survey}/inquiries/new?category=zzz", "DH-A121"),
    ]
    for who, url, code in cases:
        with tenants.client(who) as client:
            response = client.get(url)
            assert response.status_code == 400 and code in response.text, url
    with tenants.client("admin") as client:
        assert client.get(f"/admin/mail?survey={survey}&kind=notice").status_code == 200
        retried = client.post("/admin/mail/retry", data={"id": [str(10**30), str(2**63)]})
        assert retried.status_code == 303 and retried.headers["location"] == "/admin/mail?retried=0"
    with tenants.client("hosp-a") as client:
        form = client.get(f"/surveys/{survey}/inquiries/new?question=q1_1&category=operation")
        assert form.status_code == 200
