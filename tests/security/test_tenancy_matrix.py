"""Role × every route × someone else's object: 404 (or the route's role denial), never another tenant's data.

Researchers (web role ``researcher``) and read-all API tokens read every consortium, but aggregates only:
every record-level route (``Route.records``) answers them 404, and record-level markers (participant IDs,
stored and submitted values) of every consortium are outside their scope, so no page they can reach may
show one (``test_researchers_read_aggregates_only``).

The matrix is generated from ``app.routes``: every route must be described in ``ROUTES`` (which path and
query parameters name tenant objects) or exempted in ``EXEMPT`` with a reason, so a new route fails
``test_every_route_is_in_the_matrix`` until someone decides how its tenancy is tested.

For each principal (five roles, anonymous, and API tokens) and each route, the test requests:
other tenants' objects, sequential-ID guesses around every existing object (±1, 0, -1, 2^31, 2^63, …)
and non-existent ids. It asserts: no 5xx; no marker string of a tenant outside the principal's scope in
the body; a route the role may not use at all answers with a denial (404, 401/403, or a redirect to the
login page); an object path parameter outside the principal's scope answers 404. State-changing routes
are sent with a valid CSRF token, so it is tenancy, not CSRF, that refuses them; afterwards every
other tenant's data is checked unchanged.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from urllib.parse import urlencode

import httpx
import openpyxl
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount
from starlette.routing import Route as StarletteRoute
from tenants import (
    Tenants,
    activity_csv,
    build,
    tenants_fixture,  # noqa: F401  (registers the fixture)
)

from datahealth.db import Base
from datahealth.exchange.tables import ApiToken, Batch, table_for
from datahealth.operations.tables import DeadlineExtension, FaqEntry, Inquiry, Notice, ReminderOffset
from datahealth.survey.tables import Response, Survey

# --- which objects exist, and whose they are ---------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    value: str
    tenants: frozenset[str]
    """Empty: exists but belongs to nobody but the administrator (a draft survey); None-like guesses use
    ``GUESS``."""


GUESS = frozenset({"<guess>"})
"""A guessed id that names no object of this kind."""

SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"*"}),
    "hosp-a": frozenset({"hospA"}),
    "op-a": frozenset({"consA", "consA-records", "consA-admin"}),
    "res": frozenset({"consA", "consB", "research"}),  # every consortium, no records
    "ins": frozenset({"insurer"}),
    "anonymous": frozenset(),
    "token-a": frozenset({"consA", "consA-records"}),
    "token-all": frozenset({"consA", "consB"}),  # every consortium, no records
}
ROLE_OF = {
    "admin": "admin",
    "hosp-a": "hospital",
    "op-a": "consortium",
    "res": "researcher",
    "ins": "insurer",
    "anonymous": "anonymous",
    "token-a": "token",
    "token-all": "token-all",
}
AGGREGATE_ONLY = frozenset({"researcher", "token-all"})
"""Roles that read every consortium but only aggregates: record-level routes answer them exactly 404."""
SESSION_PRINCIPALS = ("admin", "hosp-a", "op-a", "res", "ins", "anonymous")


def int_guesses(existing: list[int]) -> list[str]:
    near = {v + d for v in existing for d in (-1, 1)}
    far = {0, -1, 2**31, 2**31 - 1, 2**63, 10**30}
    return [str(v) for v in sorted((near | far) - set(existing))]


def objects(t: Tenants) -> dict[str, list[Obj]]:
    i = t.ids
    o: dict[str, list[Obj]] = {
        "survey": [
            Obj(str(i["survey_open"]), frozenset({"hospA", "hospB"})),
            Obj(str(i["survey_b"]), frozenset({"hospB"})),
            Obj(str(i["survey_draft"]), frozenset()),
        ],
        "response": [Obj(str(i["response_a"]), frozenset({"hospA"})), Obj(str(i["response_b"]), frozenset({"hospB"}))],
        "organisation": [
            Obj(str(i["hospital_a"]), frozenset({"hospA"})),
            Obj(str(i["hospital_b"]), frozenset({"hospB"})),
            Obj(str(i["insurer"]), frozenset({"insurer"})),
            Obj(str(i["consortium_org_b"]), frozenset({"consB"})),
        ],
        "batch": [Obj(str(i["batch_a"]), frozenset({"consA"})), Obj(str(i["batch_b"]), frozenset({"consB"}))],
        "token": [
            Obj(str(i["token_a"]), frozenset({"consA-admin"})),
            Obj(str(i["token_b"]), frozenset({"consB-admin"})),
            Obj(str(i["token_res"]), frozenset({"research"})),
        ],
        "participant": [Obj("PA0001", frozenset({"consA-records"})), Obj("QB0001", frozenset({"consB-records"}))],
        "consortium": [Obj("CONSA", frozenset({"consA"})), Obj("CONSB", frozenset({"consB"}))],
    }
    for kind in ("survey", "response", "organisation", "token"):
        o[kind] += [Obj(v, GUESS) for v in int_guesses([int(x.value) for x in o[kind]])]
    batch_a = str(i["batch_a"])
    o["batch"] += [
        Obj(v, GUESS) for v in ("0", "1", "-1", batch_a[:-1] + ("0" if batch_a[-1] != "0" else "1"), "x" * 37)
    ]
    o["participant"] += [Obj(v, GUESS) for v in ("PA0002", "QB0000", "0", "P")]
    o["consortium"] += [Obj(v, GUESS) for v in ("CONSC", "0", "ZZZZZZZZZZ")]
    # survey operations: each hospital's notice and inquiry
    for kind in ("notice", "inquiry"):
        o[kind] = [Obj(str(i[f"{kind}_a"]), frozenset({"hospA"})), Obj(str(i[f"{kind}_b"]), frozenset({"hospB"}))]
        o[kind] += [Obj(v, GUESS) for v in int_guesses([int(x.value) for x in o[kind]])]
    return o


# --- the routes --------------------------------------------------------------------------------------

ADMIN = frozenset({"admin"})
HOSPITAL = frozenset({"hospital"})
EXCHANGE = frozenset({"consortium", "researcher", "admin"})
EXCHANGE_RECORDS = EXCHANGE - AGGREGATE_ONLY
LOGGED_IN = frozenset({"admin", "hospital", "consortium", "researcher", "insurer"})
PUBLIC = LOGGED_IN | {"anonymous", "token", "token-all"}
TOKENS = frozenset({"token", "token-all"})
RECORD_TOKENS = TOKENS - AGGREGATE_ONLY
RESEARCHER = frozenset({"researcher"})
TOKEN_ALL = frozenset({"token-all"})


@dataclass(frozen=True)
class Route:
    roles: frozenset[str]
    """Who may use the route at all (others get a denial)."""
    params: tuple[tuple[str, str], ...] = ()
    """(name, object kind) of path parameters naming a tenant's object."""
    query: tuple[tuple[str, str], ...] = ()
    """(name, object kind) of query parameters naming a tenant's object (filters: foreign ones show nothing)."""
    fixed: tuple[tuple[str, str], ...] = ()
    """Other path parameters with a valid value."""
    form: tuple[tuple[str, str], ...] = ()
    """Form fields sent with a state-changing request."""
    records: frozenset[str] = frozenset()
    """Record level (a participant's records, values, FHIR resources of individuals): the aggregate-only
    roles that authenticate on this route and must get exactly 404 (a login on a token-only route gets 401)."""


R = Route
ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/"): R(LOGGED_IN),
    ("GET", "/openapi.json"): R(PUBLIC),
    ("GET", "/login"): R(PUBLIC),
    ("GET", "/login/2fa"): R(PUBLIC),  # a full session is sent home, none to the login page
    ("GET", "/reauth"): R(LOGGED_IN),
    ("GET", "/activate"): R(PUBLIC),
    ("GET", "/lang/{code}"): R(PUBLIC, fixed=(("code", "en"),)),
    ("GET", "/account"): R(LOGGED_IN),
    ("GET", "/account/password"): R(LOGGED_IN),
    ("GET", "/account/2fa/setup"): R(LOGGED_IN),
    # hospital
    ("GET", "/surveys/{survey_id}"): R(HOSPITAL, (("survey_id", "survey"),)),
    ("GET", "/surveys/{survey_id}/s/{section_name}"): R(
        HOSPITAL, (("survey_id", "survey"),), fixed=(("section_name", "<section>"),)
    ),
    ("POST", "/surveys/{survey_id}/s/{section_name}"): R(
        HOSPITAL,
        (("survey_id", "survey"),),
        fixed=(("section_name", "<section>"),),
        form=(("q1_1", "OVERWRITTEN"), ("action", "save")),
    ),
    ("GET", "/surveys/{survey_id}/review"): R(HOSPITAL, (("survey_id", "survey"),)),
    ("POST", "/surveys/{survey_id}/submit"): R(HOSPITAL, (("survey_id", "survey"),)),
    ("GET", "/surveys/{survey_id}/receipt"): R(HOSPITAL, (("survey_id", "survey"),)),
    ("GET", "/surveys/{survey_id}/feedback"): R(HOSPITAL, (("survey_id", "survey"),)),
    ("GET", "/surveys/{survey_id}/feedback.pdf"): R(HOSPITAL, (("survey_id", "survey"),)),
    # administration (the ministry sees every tenant: only non-existent ids are checked for it)
    ("GET", "/admin"): R(ADMIN),
    ("GET", "/admin/audit"): R(ADMIN),
    ("GET", "/admin/audit.csv"): R(ADMIN),
    ("GET", "/admin/surveys/new"): R(ADMIN),
    ("POST", "/admin/surveys/new"): R(ADMIN),
    ("GET", "/admin/surveys/{survey_id}"): R(ADMIN, (("survey_id", "survey"),)),
    ("POST", "/admin/surveys/{survey_id}/period"): R(
        ADMIN, (("survey_id", "survey"),), form=(("opens_on", "2025-01-01"), ("closes_on", "2025-12-31"))
    ),
    ("POST", "/admin/surveys/{survey_id}/status"): R(ADMIN, (("survey_id", "survey"),), form=(("status", "closed"),)),
    ("GET", "/admin/surveys/{survey_id}/progress"): R(ADMIN, (("survey_id", "survey"),)),
    ("GET", "/admin/surveys/{survey_id}/responses"): R(ADMIN, (("survey_id", "survey"),)),
    ("GET", "/admin/responses/{response_id}"): R(ADMIN, (("response_id", "response"),)),
    ("POST", "/admin/responses/{response_id}/reopen"): R(ADMIN, (("response_id", "response"),)),
    ("GET", "/admin/surveys/{survey_id}/export.{fmt}"): R(ADMIN, (("survey_id", "survey"),), fixed=(("fmt", "csv"),)),
    ("GET", "/admin/surveys/{survey_id}/definition.{fmt}"): R(
        ADMIN, (("survey_id", "survey"),), fixed=(("fmt", "json"),)
    ),
    ("GET", "/admin/hospitals/import"): R(ADMIN),
    ("POST", "/admin/hospitals/import"): R(ADMIN),
    ("GET", "/admin/surveys/{survey_id}/feedback/{organisation_id}"): R(
        ADMIN, (("survey_id", "survey"), ("organisation_id", "organisation"))
    ),
    ("GET", "/admin/surveys/{survey_id}/feedback/{organisation_id}.pdf"): R(
        ADMIN, (("survey_id", "survey"), ("organisation_id", "organisation"))
    ),
    ("GET", "/admin/surveys/{survey_id}/national"): R(ADMIN, (("survey_id", "survey"),)),
    ("GET", "/admin/surveys/{survey_id}/national.{kind}"): R(
        ADMIN, (("survey_id", "survey"),), fixed=(("kind", "xlsx"),)
    ),
    ("GET", "/admin/exchange/consortia"): R(ADMIN),
    ("POST", "/admin/exchange/consortia"): R(ADMIN),
    ("POST", "/admin/exchange/consortia/{consortium_id}/operators"): R(
        ADMIN, (("consortium_id", "consortium"),), form=(("login_id", "intruder"),)
    ),
    ("POST", "/admin/exchange/researchers"): R(ADMIN),
    ("POST", "/admin/exchange/insurers"): R(ADMIN),
    # exchange pages
    ("GET", "/exchange"): R(EXCHANGE, query=(("consortium", "consortium"),)),
    ("GET", "/exchange/batches/{batch_id}"): R(EXCHANGE, (("batch_id", "batch"),)),  # researchers: counts only
    ("GET", "/exchange/batches/{batch_id}/issues.csv"): R(
        EXCHANGE_RECORDS, (("batch_id", "batch"),), records=RESEARCHER
    ),
    ("GET", "/exchange/upload"): R(frozenset({"consortium", "admin"})),
    ("POST", "/exchange/upload"): R(frozenset({"consortium", "admin"})),
    ("GET", "/exchange/tokens"): R(EXCHANGE),
    ("POST", "/exchange/tokens"): R(frozenset({"consortium", "researcher"})),
    ("POST", "/exchange/tokens/{token_id}/revoke"): R(EXCHANGE, (("token_id", "token"),)),
    ("GET", "/exchange/quality"): R(EXCHANGE, query=(("consortium", "consortium"),)),
    ("GET", "/exchange/quality.xlsx"): R(EXCHANGE, query=(("consortium", "consortium"),)),
    # exchange API (bearer tokens; the FHIR export also takes a login)
    ("POST", "/api/v1/exchange/batches"): R(RECORD_TOKENS),  # read-all tokens: 403 (read-only)
    ("GET", "/api/v1/exchange/batches"): R(TOKENS, query=(("consortium_id", "consortium"),)),
    ("GET", "/api/v1/exchange/batches/{batch_id}"): R(TOKENS, (("batch_id", "batch"),)),  # read-all: rows withheld
    ("GET", "/api/v1/exchange/batches/{batch_id}/issues.csv"): R(
        RECORD_TOKENS, (("batch_id", "batch"),), records=TOKEN_ALL
    ),
    ("GET", "/api/v1/exchange/participants/{participant_id}/records"): R(
        RECORD_TOKENS,
        (("participant_id", "participant"),),
        query=(("consortium_id", "consortium"),),
        records=TOKEN_ALL,
    ),
    ("GET", "/api/v1/exchange/fhir/$export"): R(
        RECORD_TOKENS | EXCHANGE_RECORDS,
        query=(("consortium", "consortium"), ("participant", "participant")),
        records=AGGREGATE_ONLY,
    ),
}
# survey operations (hospital side: only the caller's own notices and inquiries; administration: admin only)
ROUTES.update(
    {
        ("GET", "/notices"): R(HOSPITAL),
        ("POST", "/notices/read-all"): R(HOSPITAL),
        ("GET", "/notices/{notice_id}"): R(HOSPITAL, (("notice_id", "notice"),)),
        ("GET", "/inquiries"): R(HOSPITAL),
        ("GET", "/inquiries/{inquiry_id}"): R(HOSPITAL, (("inquiry_id", "inquiry"),)),
        ("GET", "/surveys/{survey_id}/faq"): R(HOSPITAL, (("survey_id", "survey"),)),
        ("GET", "/surveys/{survey_id}/inquiries/new"): R(HOSPITAL, (("survey_id", "survey"),)),
        ("POST", "/surveys/{survey_id}/inquiries"): R(
            HOSPITAL,
            (("survey_id", "survey"),),
            form=(("question", "q1_1"), ("category", "content"), ("body", "INTRUDER")),
        ),
        ("GET", "/admin/surveys/{survey_id}/operations"): R(ADMIN, (("survey_id", "survey"),)),
        ("POST", "/admin/surveys/{survey_id}/reminders/schedule"): R(
            ADMIN, (("survey_id", "survey"),), form=(("offsets", "7,1"),)
        ),
        ("POST", "/admin/surveys/{survey_id}/reminders/now"): R(ADMIN, (("survey_id", "survey"),)),
        ("POST", "/admin/surveys/{survey_id}/extensions"): R(
            ADMIN,
            (("survey_id", "survey"),),
            form=(("closes_on", "2025-12-31"), ("scope", "all"), ("reason", "INTRUDER")),
        ),
        ("GET", "/admin/inquiries"): R(ADMIN),
        ("GET", "/admin/inquiries/{inquiry_id}"): R(ADMIN, (("inquiry_id", "inquiry"),)),
        ("POST", "/admin/inquiries/{inquiry_id}/answer"): R(
            ADMIN, (("inquiry_id", "inquiry"),), form=(("answer", "OVERWRITTEN"),)
        ),
        ("POST", "/admin/inquiries/{inquiry_id}/publish"): R(
            ADMIN, (("inquiry_id", "inquiry"),), form=(("question_text", "X"), ("answer_text", "Y"))
        ),
        ("GET", "/admin/mail"): R(ADMIN, query=(("survey", "survey"),)),
        ("POST", "/admin/mail/retry"): R(ADMIN, form=(("all_failed", "1"),)),
        ("GET", "/admin/mail/sink"): R(ADMIN),
    }
)

EXEMPT: dict[tuple[str, str], str] = {
    ("POST", "/login"): "authentication step, no object id; tests/web/test_two_factor.py",
    ("POST", "/login/2fa"): "authentication step, no object id; tests/web/test_two_factor.py",
    ("POST", "/reauth"): "re-enters the session's own password; tests/web/test_two_factor.py",
    ("POST", "/logout"): "ends the caller's own session only; tests/web/test_hospital_flow.py",
    ("POST", "/activate"): "one-time activation code, no session; tests/web/test_admin.py",
    ("POST", "/account/password"): "acts on the session's own user only; tests/web/test_two_factor.py",
    ("POST", "/account/2fa/setup"): "acts on the session's own user only; tests/web/test_two_factor.py",
    ("POST", "/account/2fa/recovery-codes"): "acts on the session's own user only; tests/web/test_two_factor.py",
    ("POST", "/account/2fa/disable"): "acts on the session's own user only; tests/web/test_two_factor.py",
}


def app_routes(t: Tenants) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, through included routers (HEAD goes with GET)."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
            elif isinstance(route, Mount):
                assert route.path == "/static", f"unexpected mount {route.path}"
            elif isinstance(route, StarletteRoute):
                # A direct route (web.direct_routes) serves its FastAPI route's path: "{survey_id:int}" is "{survey_id}"
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
                found.update((method, path) for method in (route.methods or ()) if method != "HEAD")
            else:
                raise AssertionError(f"unknown kind of route {route!r}")

    walk(t.app.routes, "")
    assert len(found) > 50
    return found


def test_every_route_is_in_the_matrix(tenants: Tenants) -> None:
    routes = app_routes(tenants)
    missing = routes - ROUTES.keys() - EXEMPT.keys()
    assert not missing, f"routes neither in the tenancy matrix nor exempted: {sorted(missing)}"
    stale = (ROUTES.keys() | EXEMPT.keys()) - routes
    assert not stale, f"matrix entries for routes that no longer exist: {sorted(stale)}"
    assert not ROUTES.keys() & EXEMPT.keys()


# --- the requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    method: str
    url: str
    route: Route
    target: frozenset[str] | None
    """Tenants of the object named in the path (None: no object in the path)."""
    query_target: bool = False


def cases(t: Tenants, who: str) -> Iterator[Case]:
    objs = objects(t)
    scope = SCOPES[who]
    for (method, path), route in ROUTES.items():
        fixed = {name: (t.section if value == "<section>" else value) for name, value in route.fixed}
        # Path objects: each object of each kind, the other parameters at a value visible to the caller
        # (or at any object when nothing is visible).
        choices = []
        for name, kind in route.params:
            choices.append([(name, obj) for obj in objs[kind]])
        combos = list(product(*choices)) if choices else [()]
        if len(choices) > 1:  # vary one parameter at a time against a fixed first object
            first = [c[0] for c in choices]
            combos = [tuple(first[:k]) + (item,) + tuple(first[k + 1 :]) for k, ch in enumerate(choices) for item in ch]
        for combo in combos:
            url = path
            for name, value in fixed.items():
                url = url.replace("{" + name + "}", value)
            tenants_of: frozenset[str] | None = None
            for name, obj in combo:
                url = url.replace("{" + name + "}", obj.value)
                tenants_of = obj.tenants if tenants_of is None else _foreign_first(tenants_of, obj.tenants, scope)
            yield Case(method, url, route, tenants_of)
            for qname, kind in route.query:
                for obj in objs[kind]:
                    yield Case(method, f"{url}?{urlencode({qname: obj.value})}", route, tenants_of, True)


def _foreign_first(a: frozenset[str], b: frozenset[str], scope: frozenset[str]) -> frozenset[str]:
    """Of two objects in one path, the one outside the caller's scope decides."""
    return b if _foreign(b, scope) else a


def _foreign(target: frozenset[str], scope: frozenset[str]) -> bool:
    if "*" in scope:
        return target == GUESS
    return target == GUESS or not (target & scope)


def send(client: httpx.Client, case: Case) -> httpx.Response:
    if case.method == "GET":
        return client.get(case.url)
    if case.url.startswith("/api/v1/exchange/batches"):
        return client.post(
            case.url, content=activity_csv(("CONSB", "QB0001", "20250111")), headers={"content-type": "text/csv"}
        )
    files = {"files": ("activity.csv", activity_csv(("CONSB", "QB0001", "20250111")), "text/csv")}
    if case.url == "/exchange/upload":
        return client.post(case.url, files=files)
    return client.post(case.url, data=dict(case.route.form))


def denied(response: httpx.Response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    return response.status_code in (302, 303, 307) and response.headers.get("location", "").startswith("/login")


def leaks(t: Tenants, who: str, case: Case, response: httpx.Response) -> list[str]:
    scope = SCOPES[who]
    if "*" in scope:
        return []
    body = response.content.decode("utf-8", "replace")
    found = []
    for tenant, markers in t.markers.items():
        if tenant in scope:
            continue
        found += [m for m in markers if m in body and m not in case.url]
    return found


def snapshot(t: Tenants) -> dict[str, object]:
    """Other tenants' data that no request of the matrix may change."""
    with t.sessions() as db:
        activity = table_for("activity")
        return {
            "response_b": db.scalars(select(Response.answers).where(Response.id == t.ids["response_b"])).one(),
            "response_b_status": db.scalars(select(Response.status).where(Response.id == t.ids["response_b"])).one(),
            "surveys": sorted(db.execute(select(Survey.id, Survey.status, Survey.opens_on, Survey.closes_on)).all()),
            "tokens": sorted(db.execute(select(ApiToken.id, ApiToken.revoked_at)).all()),
            "consb_batches": db.scalar(select(func.count()).select_from(Batch).where(Batch.consortium_id == "CONSB")),
            "consb_activity": db.scalar(
                select(func.count()).select_from(activity).where(activity.c.consortium_id == "CONSB")
            ),
            **_operations_snapshot(t, db),
        }


def _operations_snapshot(t: Tenants, db: Session) -> dict[str, object]:
    """Hospital B's inquiry, notices and extensions, and every inquiry and FAQ entry (survey operations)."""
    b = t.ids["hospital_b"]
    return {
        "inquiries": sorted(db.execute(select(Inquiry.id, Inquiry.status, Inquiry.answer, Inquiry.body)).all()),
        "faq": sorted(db.execute(select(FaqEntry.id, FaqEntry.question_text, FaqEntry.answer_text)).all()),
        "notices_b": sorted(db.execute(select(Notice.id, Notice.read_at).where(Notice.organisation_id == b)).all()),
        "extensions": sorted(db.execute(select(DeadlineExtension.id, DeadlineExtension.closes_on)).all()),
        "reminder_days": sorted(db.execute(select(ReminderOffset.survey_id, ReminderOffset.days_before)).all()),
    }


@pytest.mark.parametrize("who", list(SCOPES))
def test_no_cross_tenant_read_or_write(tenants: Tenants, who: str) -> None:
    before = snapshot(tenants)
    role = ROLE_OF[who]
    problems: list[str] = []
    allowed_ok = 0
    with tenants.client(who) as client:
        for case in cases(tenants, who):
            may_use = role in case.route.roles
            foreign_object = case.target is not None and _foreign(case.target, SCOPES[who])
            if case.method != "GET" and may_use and not foreign_object:
                continue  # the caller's own state changes are the feature tests' business
            response = send(client, case)
            status = response.status_code
            where = f"{who} {case.method} {case.url} → {status}"
            if status >= 500:
                problems.append(f"{where}: server error")
            found = leaks(tenants, who, case, response)
            if found:
                problems.append(f"{where}: another tenant's data {found}")
            malformed_guess = case.target == GUESS and status == 400  # a malformed id (too long) is refused as such
            if not may_use and role in case.route.records:
                if status != 404 and not malformed_guess:
                    problems.append(f"{where}: record-level route not answered with 404 for an aggregate-only reader")
            elif not may_use:
                if not denied(response):
                    problems.append(f"{where}: route not denied to role {role}")
            elif foreign_object and not case.query_target and status != 404 and not malformed_guess:
                problems.append(f"{where}: object outside the caller's scope not answered with 404")
            elif not foreign_object and status == 200:
                allowed_ok += 1
    assert not problems, "\n".join(problems[:60]) + f"\n({len(problems)} problems)"
    assert snapshot(tenants) == before
    if who != "anonymous":
        assert allowed_ok > 0, "the caller reached nothing of its own: the matrix would prove nothing"


POSITIVE = {
    "hosp-a": ["/surveys/{survey_open}/review"],
    "admin": ["/admin/responses/{response_b}", "/admin/surveys/{survey_b}/progress"],
    "op-a": ["/exchange/batches/{batch_a}", "/exchange/batches/{batch_a}/issues.csv"],
    "res": ["/exchange/batches/{batch_b}", "/exchange/quality?consortium=CONSB"],
    "ins": ["/account"],
    "token-a": ["/api/v1/exchange/batches/{batch_a}", "/api/v1/exchange/participants/PA0001/records"],
    "token-all": ["/api/v1/exchange/batches/{batch_b}", "/api/v1/exchange/batches?consortium_id=CONSB"],
}

POSITIVE["hosp-a"] += ["/inquiries/{inquiry_a}", "/notices/{notice_a}", "/surveys/{survey_open}/faq"]
POSITIVE["admin"] += ["/admin/inquiries/{inquiry_b}", "/admin/surveys/{survey_b}/operations"]


@pytest.mark.parametrize("who", list(POSITIVE))
def test_own_objects_are_reachable(tenants: Tenants, who: str) -> None:
    """The control: the ids the matrix uses are real, so its 404s mean 'not yours', not 'wrong id'."""
    with tenants.client(who) as client:
        for template in POSITIVE[who]:
            url = template.format(**tenants.ids)
            response = client.get(url)
            assert response.status_code == 200, url


RECORD_MARKERS = ("consA-records", "consB-records")


def record_markers(t: Tenants, text: str) -> list[str]:
    return [m for tenant in RECORD_MARKERS for m in t.markers[tenant] if m in text]


def xlsx_text(content: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(
        str(value) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for value in row
    )


def test_researchers_read_aggregates_only(tenants: Tenants) -> None:
    """Researchers read every consortium's aggregates (200) and no record (404), on the pages, the API and FHIR;
    the administrator and the owning consortium still read the records."""
    batch_a, batch_b = tenants.ids["batch_a"], tenants.ids["batch_b"]
    with tenants.client("res") as client:
        for url in (f"/exchange/batches/{batch_b}", f"/exchange/batches/{batch_b}?severity=error", "/exchange"):
            page = client.get(url)
            assert page.status_code == 200 and not record_markers(tenants, page.text), url
        page = client.get(f"/exchange/batches/{batch_b}")
        assert 'id="issue-summary"' in page.text and "DH-X1" in page.text  # counts per code
        assert 'id="issues"' not in page.text and 'id="report-download"' not in page.text
        assert 'id="aggregates-only"' in page.text
        for consortium in ("", "?consortium=CONSA", "?consortium=CONSB"):
            quality = client.get(f"/exchange/quality{consortium}")
            assert quality.status_code == 200 and 'id="coverage-table"' not in quality.text
            assert 'id="aggregates-only"' in quality.text and not record_markers(tenants, quality.text)
            workbook = client.get(f"/exchange/quality.xlsx{consortium}")
            assert workbook.status_code == 200 and not record_markers(tenants, xlsx_text(workbook.content))
        # Two participants in the world: every per-type figure is over fewer than 10 people, so suppressed.
        assert 'id="coverage-suppressed"' in client.get("/exchange/quality").text
        for url in (
            f"/exchange/batches/{batch_b}/issues.csv",
            f"/exchange/batches/{batch_a}/issues.csv",
            "/api/v1/exchange/fhir/$export",
            "/api/v1/exchange/fhir/$export?consortium=CONSB",
            "/api/v1/exchange/fhir/$export?consortium=CONSB&participant=QB0001",
        ):
            assert client.get(url).status_code == 404, url
    with tenants.client("token-all") as client:
        detail = client.get(f"/api/v1/exchange/batches/{batch_b}")
        body = detail.json()
        assert detail.status_code == 200 and not record_markers(tenants, detail.text)
        assert body["issues"] == [] and body["issues_withheld"] is True
        assert body["issues_total"] == sum(row["issues"] for row in body["issue_summary"]) > 0
        listed = client.get("/api/v1/exchange/batches")
        assert listed.status_code == 200 and listed.json()["total"] == 2
        for url in (
            f"/api/v1/exchange/batches/{batch_b}/issues.csv",
            "/api/v1/exchange/participants/QB0001/records",
            "/api/v1/exchange/participants/PA0001/records?consortium_id=CONSA",
            "/api/v1/exchange/participants/NOBODY/records",
            "/api/v1/exchange/fhir/$export",
            "/api/v1/exchange/fhir/$export?consortium=CONSA",
            "/api/v1/exchange/fhir/$export?_type=Observation",
        ):
            response = client.get(url)
            assert response.status_code == 404 and not record_markers(tenants, response.text), url
    with tenants.client("admin") as client:  # the ministry administrator reads everything (audited)
        page = client.get(f"/exchange/batches/{batch_b}")
        assert page.status_code == 200 and "2025012000000" in page.text
        assert "2025012000000" in client.get(f"/exchange/batches/{batch_b}/issues.csv").text
        exported = client.get("/api/v1/exchange/fhir/$export?consortium=CONSB")
        assert exported.status_code == 200 and "QB0001" in exported.text
        assert 'id="coverage-table"' in client.get("/exchange/quality").text
    with tenants.client("token-a") as client:  # the owning consortium reads its records
        detail = client.get(f"/api/v1/exchange/batches/{batch_a}").json()
        assert detail["issues_withheld"] is False and "2025011000000" in {i["value"] for i in detail["issues"]}


def test_insurer_has_only_its_account(tenants: Tenants) -> None:
    with tenants.client("ins") as client:
        home = client.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/account"
        page = client.get("/account")
        assert page.status_code == 200 and "Insurer-Gamma-MK" in page.text
        assert 'href="/exchange"' not in page.text and 'href="/admin"' not in page.text


def test_the_shared_faq_names_no_hospital(tenants: Tenants) -> None:
    """Hospital B's published inquiry is on the FAQ of the survey both answer, without B's name or code;
    B's own inquiry page shows B the answer, which no other hospital's pages show."""
    with tenants.client("hosp-a") as client:
        faq = client.get(f"/surveys/{tenants.ids['survey_open']}/faq")
        assert faq.status_code == 200 and "FAQ question from" in faq.text and "（病院名）" in faq.text
        assert not [m for m in tenants.markers["hospB"] if m in faq.text]
        mine = client.get("/inquiries")
        assert "INQUIRY-MARKER-A" in mine.text and "INQUIRY-MARKER-B" not in mine.text
        board = client.get("/notices")
        assert "NOTICE-MARKER-A" in board.text and "NOTICE-MARKER-B" not in board.text
        assert "EXTENSION-MARKER-B" not in board.text
    with tenants.client("hosp-b") as client:
        own = client.get(f"/inquiries/{tenants.ids['inquiry_b']}")
        assert own.status_code == 200 and "INQUIRY-ANSWER-MARKER-B" in own.text
        assert "EXTENSION-MARKER-B" in client.get(f"/notices/{tenants.ids['notice_extension_b']}").text


def test_a_sender_cannot_write_into_another_consortium(tenants: Tenants) -> None:
    """Tenancy of the body: rows naming another consortium are rejected, via the page and the API."""
    before = snapshot(tenants)
    rows = activity_csv(("CONSB", "QB0001", "20250115"), ("CONSB", "PA0001", "20250115"))
    with tenants.client("op-a") as client:
        sent = client.post("/exchange/upload", files={"files": ("activity.csv", rows, "text/csv")})
        assert sent.status_code == 303
    with tenants.client("token-a") as client:
        result = client.post("/api/v1/exchange/batches", files={"files": ("activity.csv", rows, "text/csv")})
        assert result.status_code == 201 and result.json()["status"] == "rejected"
        assert result.json()["counts"]["activity"]["stored"] == 0
    after = snapshot(tenants)
    assert after["consb_activity"] == before["consb_activity"]
    assert after["consb_batches"] == before["consb_batches"]


@pytest.fixture(scope="module")
def pg_tenants(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> Tenants:
    """The same world on PostgreSQL (32-bit ids, a stricter driver), emptied first like conftest's settings."""
    engine = create_engine("postgresql+psycopg://" + postgres_database.split("://", 1)[1])
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :g)"), {"g": "0" * 64})
    engine.dispose()
    return build(tmp_path_factory.mktemp("pg-tenants"), None, database_url=postgres_database)


@pytest.mark.parametrize("who", ["hosp-a", "op-a", "token-a", "res", "token-all"])
def test_no_cross_tenant_read_or_write_on_postgres(pg_tenants: Tenants, who: str) -> None:
    """The id-guessing part of the matrix again on PostgreSQL, for the callers with the most objects and the
    aggregate-only readers."""
    test_no_cross_tenant_read_or_write(pg_tenants, who)


def test_researchers_read_aggregates_only_on_postgres(pg_tenants: Tenants) -> None:
    test_researchers_read_aggregates_only(pg_tenants)
