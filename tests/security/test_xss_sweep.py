"""XSS sweep: hostile text in every field a user can enter comes back escaped on every page and export.

The world of tenants.py is built with a payload appended to every free text (hospital, consortium and
insurer names, user display names, survey answers, API token names, uploaded file names). An
administrator also imports a survey definition whose every Japanese/English text (titles, section
titles, labels, hints, choice labels) carries the payload, uploaded under a hostile file name. Then every
GET route of the app (enumerated as in the tenancy matrix) is visited by every role with the payload in
every declared query parameter and in every free path parameter, and each response is checked.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import openpyxl
import pytest
from markupsafe import escape
from sqlalchemy import select
from tenants import NOW, Tenants, build
from test_allow_lists import _api_routes
from test_tenancy_matrix import ROUTES, objects

import factories as f
from datahealth.auth.tables import User
from datahealth.survey import io as survey_io
from datahealth.survey import service
from datahealth.survey.definitions import load_bundled
from datahealth.survey.tables import Survey

PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(1)</script>{{7*7}}</textarea>'
"""73 characters, so that it fits after every name (consortium names: 100)."""
QUERY_PAYLOADS = (PAYLOAD, "javascript:alert(1)")
FORMULAS = ("=1+2", "+SUM(1)", "-2+3", "@SUM(1)", '=HYPERLINK("http://example.invalid","x")')
RAW = (
    re.compile(r"<img src=x onerror", re.I),
    re.compile(r"<script>alert", re.I),
    re.compile(r"\{\{7\*7\}\}</textarea>"),
    re.compile(r"(?:href|src|action)\s*=\s*[\"']?\s*javascript:", re.I),
)
ESCAPED = "onerror=alert(1)&gt;"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Tenants:
    world = build(tmp_path_factory.mktemp("hostile"), sqlite_template, hostile=PAYLOAD)
    with world.sessions.begin() as db:  # a formula in a free-text answer
        user = db.scalars(select(User).where(User.login_id == "hosp-a")).one()
        survey = db.get(Survey, world.ids["survey_open"])
        assert survey is not None
        who = f.principal(user)
        response = service.own_response(db, who, survey)
        service.save_draft(db, who, survey, response, {"q2_3_other": FORMULAS[-1]}, ["q2_3_other"], NOW)
    with world.client("admin") as client:
        created = client.post(
            "/admin/surveys/new",
            files={"definition": (f"x{PAYLOAD[:30]}.json".replace("/", ""), _hostile_definition(), "application/json")},
        )
        assert created.status_code == 303, created.text
        survey_id = int(created.headers["location"].split("/")[3].split("?")[0])
        assert client.post(f"/admin/surveys/{survey_id}/status", data={"status": "open"}).status_code == 303
        world.ids["survey_hostile"] = survey_id
    return world


def _hostile_definition() -> bytes:
    data = json.loads(survey_io.dump_json(load_bundled("cyber-fy2024")))
    data["version"] = "hostile"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("ja", "en") and isinstance(value, str):
                    node[key] = value + PAYLOAD
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return json.dumps(data, ensure_ascii=False).encode()


def _raw_payload(body: str) -> list[str]:
    return [pattern.pattern for pattern in RAW if pattern.search(body)]


def _urls(t: Tenants, path: str, params: list[str]) -> Iterator[str]:
    """The route with real objects (and the payload for free text path parameters), then with the payload
    in every declared query parameter."""
    objs = objects(t)
    kinds = dict(ROUTES[("GET", path)].params)
    fixed = dict(ROUTES[("GET", path)].fixed)
    values: dict[str, list[str]] = {}
    for name in re.findall(r"\{([a-z_]+)\}", path):
        if name in kinds:
            real = [o.value for o in objs[kinds[name]] if o.tenants != frozenset({"<guess>"})]
            if kinds[name] == "survey":
                real.append(str(t.ids["survey_hostile"]))
            values[name] = real + ([quote(PAYLOAD, safe="")] if kinds[name] in ("batch", "participant") else [])
        elif name == "section_name":
            values[name] = [t.section, quote(PAYLOAD, safe="")]
        else:
            values[name] = [fixed[name], quote(PAYLOAD, safe="")]
    combos: list[dict[str, str]] = [{}]
    for name, options in values.items():
        combos = [{**c, name: v} for c in combos for v in options]
    for combo in combos:
        url = path
        for name, value in combo.items():
            url = url.replace("{" + name + "}", value)
        yield url
        for payload in QUERY_PAYLOADS:
            if params:
                yield f"{url}?{urlencode(dict.fromkeys(params, payload))}"


def _callers(path: str) -> tuple[str, ...]:
    if path.startswith("/api/v1/exchange/fhir"):
        return ("token-all", "res", "op-a")
    if path.startswith("/api/"):
        return ("token-all", "token-a")
    return ("admin", "hosp-a", "op-a", "res", "ins")


def _check(url: str, who: str, response: httpx.Response) -> list[str]:
    problems = []
    kind = response.headers.get("content-type", "")
    if response.status_code >= 500:
        problems.append(f"{who} {url} → {response.status_code}")
    if response.headers.get("x-content-type-options") != "nosniff":
        problems.append(f"{who} {url}: no nosniff")
    if kind.startswith("text/html"):
        body = response.text
        problems += [f"{who} {url}: raw {raw}" for raw in _raw_payload(body)]
        if "&lt;/script&gt;49" in body or "</script>49" in body:
            problems.append(f"{who} {url}: the template expression in user text was evaluated")
    elif kind.startswith("text/csv"):
        problems += [f"{who} {url}: {p}" for p in _csv_problems(response.content)]
    elif "spreadsheetml" in kind:
        problems += [f"{who} {url}: {p}" for p in _xlsx_problems(response.content)]
    elif kind.startswith(("application/json", "application/fhir+ndjson", "application/pdf", "application/yaml")):
        pass  # data formats: the payload is a JSON/YAML string; browsers never render them (nosniff)
    elif response.status_code in (200, 400, 404) and not (300 <= response.status_code < 400):
        problems.append(f"{who} {url}: unexpected content type {kind!r}")
    return problems


def _csv_problems(content: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return [f"formula cell {cell!r}" for row in rows for cell in row if cell in FORMULAS]


def _xlsx_problems(content: bytes) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    problems = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    problems.append(f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}")
    return problems


def test_payload_comes_back_escaped_on_every_page_and_export(hostile: Tenants) -> None:
    declared = {
        (method, route.path): [p.alias for p in route.dependant.query_params]
        + [p.alias for d in route.dependant.dependencies for p in d.query_params]
        for route in _api_routes(hostile)
        for method in route.methods
    }
    problems: list[str] = []
    seen_escaped = 0
    visited = 0
    for (method, path), _route in ROUTES.items():
        if method != "GET":
            continue
        for who in _callers(path):
            with hostile.client(who) as client:
                for url in _urls(hostile, path, declared.get((method, path), [])):
                    response = client.get(url)
                    visited += 1
                    problems += _check(url, who, response)
                    seen_escaped += ESCAPED in response.text
    assert not problems, "\n".join(problems[:50]) + f"\n({len(problems)} problems)"
    assert visited > 300 and seen_escaped > 30, (visited, seen_escaped)


@pytest.mark.parametrize(
    ("who", "url", "where"),
    [
        ("hosp-a", "/surveys/{survey_hostile}/s/{section}", "question labels and hints"),
        ("hosp-a", "/surveys/{survey_open}/review", "free-text answers"),
        ("admin", "/admin/surveys/{survey_open}/responses", "hospital names"),
        ("admin", "/admin/exchange/consortia", "consortium names"),
        ("op-a", "/exchange/tokens", "token names"),
        ("op-a", "/exchange", "uploaded file names"),
        ("ins", "/account", "insurer and user names"),
    ],
)
def test_the_payload_really_reaches_the_page(hostile: Tenants, who: str, url: str, where: str) -> None:
    """The control: each kind of user text is on its page, escaped (so the sweep above is not vacuous)."""
    with hostile.client(who) as client:
        body = client.get(url.format(section=hostile.section, **hostile.ids)).text
    assert ESCAPED in body, where
    assert not _raw_payload(body)


@pytest.mark.parametrize(
    ("who", "url", "text"),
    [
        ("hosp-a", "/notices", "NOTICE-MARKER-A"),
        ("hosp-a", "/notices/{notice_a}", "NOTICE-MARKER-A body"),
        ("hosp-a", "/inquiries", "INQUIRY-MARKER-A from Alpha-Hospital-MK"),
        ("hosp-a", "/inquiries/{inquiry_a}", "INQUIRY-MARKER-A from Alpha-Hospital-MK"),
        ("hosp-b", "/inquiries/{inquiry_b}", "INQUIRY-ANSWER-MARKER-B"),
        ("hosp-b", "/notices/{notice_extension_b}", "EXTENSION-MARKER-B"),
        ("hosp-a", "/surveys/{survey_open}/faq", "FAQ answer for （病院名）"),
        ("admin", "/admin/inquiries", "Beta-Hospital-MK"),
        ("admin", "/admin/inquiries/{inquiry_b}", "INQUIRY-ANSWER-MARKER-B"),
        ("admin", "/admin/surveys/{survey_open}/operations", "FAQ question from （病院名） (（病院名）)"),
        ("admin", "/admin/mail", "MAIL-MARKER-A"),
        ("admin", "/admin/surveys/{survey_b}/operations", "EXTENSION-MARKER-B"),
    ],
)
def test_operations_texts_reach_their_pages_escaped(hostile: Tenants, who: str, url: str, text: str) -> None:
    """The control for survey operations: notice, inquiry, answer, FAQ, extension and mail texts are on their
    pages with the payload that followed them, escaped (its start: lists truncate long texts)."""
    with hostile.client(who) as client:
        page = client.get(url.format(**hostile.ids))
    assert page.status_code == 200
    assert str(escape(text + PAYLOAD[:12])) in page.text, text
    assert not _raw_payload(page.text)


def test_exports_neutralise_formulas(hostile: Tenants) -> None:
    with hostile.client("admin") as client:
        survey = hostile.ids["survey_open"]
        exported = client.get(f"/admin/surveys/{survey}/export.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        cells = {cell for row in csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))) for cell in row}
        assert "'" + FORMULAS[-1] in cells and not _csv_problems(exported.content)
        book = client.get(f"/admin/surveys/{survey}/export.xlsx")
        assert "spreadsheetml" in book.headers["content-type"] and not _xlsx_problems(book.content)
        definition = client.get(f"/admin/surveys/{hostile.ids['survey_hostile']}/definition.json")
        assert definition.headers["content-type"].startswith("application/json")
        assert PAYLOAD in definition.json()["title"]["ja"]


FORMS = [
    # (who, url template, form): pages that show the submitted values again (errors, results)
    ("admin", "/admin/exchange/consortia", {"consortium_id": PAYLOAD, "name": PAYLOAD, "login_id": PAYLOAD}),
    ("admin", "/admin/exchange/consortia", {"consortium_id": "XSS1", "name": PAYLOAD[:60], "display_name": PAYLOAD}),
    ("admin", "/admin/exchange/insurers", {"insurer_number": PAYLOAD, "login_id": PAYLOAD}),
    ("admin", "/admin/exchange/researchers", {"login_id": PAYLOAD, "display_name": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/period", {"opens_on": PAYLOAD, "closes_on": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/status", {"status": PAYLOAD}),
    ("op-a", "/exchange/tokens", {"name": PAYLOAD * 2}),
    ("op-a", "/exchange/tokens", {"name": PAYLOAD}),
    ("hosp-a", "/surveys/{survey_hostile}/s/{section}", {"q1_1": PAYLOAD, "q1_2": PAYLOAD, "action": "save"}),
    ("hosp-a", "/surveys/{survey_hostile}/submit", {}),
    ("anonymous", "/login", {"login_id": PAYLOAD, "password": PAYLOAD, "next": "javascript:alert(1)"}),
    ("anonymous", "/activate", {"login_id": PAYLOAD, "code": PAYLOAD, "password": PAYLOAD}),
    # survey operations (the e-mails these send are plain text; only the pages are checked)
    ("hosp-a", "/surveys/{survey_open}/inquiries", {"question": PAYLOAD, "category": PAYLOAD, "body": PAYLOAD}),
    ("hosp-a", "/surveys/{survey_open}/inquiries", {"question": "q1_1", "category": "operation", "body": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/reminders/schedule", {"offsets": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/reminders/now", {"prefecture": PAYLOAD, "band": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/reminders/now", {"band": PAYLOAD, "status": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/extensions", {"closes_on": PAYLOAD, "reason": PAYLOAD}),
    ("admin", "/admin/surveys/{survey_open}/extensions", {"closes_on": "2025-12-31", "hospitals": PAYLOAD}),
    (
        "admin",
        "/admin/surveys/{survey_open}/extensions",
        {"closes_on": "2025-12-30", "hospitals": "1311111111", "reason": PAYLOAD},
    ),
    ("admin", "/admin/inquiries/{inquiry_a}/answer", {"answer": ""}),
    ("admin", "/admin/inquiries/{inquiry_a}/answer", {"answer": PAYLOAD}),
    ("admin", "/admin/inquiries/{inquiry_a}/publish", {"question_text": PAYLOAD, "answer_text": ""}),
    ("admin", "/admin/inquiries/{inquiry_a}/publish", {"question_text": PAYLOAD, "answer_text": PAYLOAD}),
    ("admin", "/admin/mail/retry", {"id": PAYLOAD}),
]


@pytest.mark.parametrize(("who", "url", "form"), FORMS)
def test_submitted_values_come_back_escaped(hostile: Tenants, who: str, url: str, form: dict[str, str]) -> None:
    with hostile.client(who) as client:
        target = url.format(section=hostile.section, **hostile.ids)
        if who == "anonymous":
            page = client.get(target)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token is not None
            form = {**form, "csrf_token": token.group(1)}
        response = client.post(target, data=form, headers={"hx-request": "true"} if "/s/" in url else {})
        assert response.status_code < 500
        problems = _check(target, who, response)
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "")
            assert not location.lower().startswith("javascript:"), location
            problems += _check(location, who, client.get(location))
        assert not problems, problems
