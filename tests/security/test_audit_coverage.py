"""Audit coverage: exchange pages and API, FHIR export, tokens, accounts, reports and CLI actions write an
event (who, what object, outcome, from where) with no health values or secrets in it.
"""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from tenants import (
    Tenants,
    activity_csv,
    build,
    tenants_fixture,  # noqa: F401  (registers the fixture)
)
from typer.testing import CliRunner

import factories as f
from datahealth.audit import log as audit_log
from datahealth.audit.tables import AuditEvent
from datahealth.cli import app as cli_app


def _events_after(t: Tenants, seq: int) -> list[AuditEvent]:
    with t.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))


def _last_seq(t: Tenants) -> int:
    with t.sessions() as db:
        return db.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


def _secrets(t: Tenants) -> list[str]:
    """Strings that must never reach the audit log: tokens, passwords, health values, free-text answers."""
    return [*t.bearer.values(), *t.cookies.values(), f.PASSWORD, f.TOTP_SECRET, "ANSWER-MARKER", "197507", "8000"]


def _text(event: AuditEvent) -> str:
    return json.dumps(
        [event.actor, event.action, event.object_type, event.object_id, event.address, event.detail],
        ensure_ascii=False,
    )


def _assert_clean(t: Tenants, events: list[AuditEvent]) -> None:
    for event in events:
        text = _text(event)
        for secret in _secrets(t):
            assert secret not in text, f"{event.action} carries {secret!r}: {text}"


WEB_CASES = [
    # (who, method, url template, form/None, action, object id template, outcome)
    ("op-a", "GET", "/exchange", None, "exchange.batches.view", "CONSA", "success"),
    ("op-a", "GET", "/exchange/batches/{batch_a}", None, "exchange.batch.view", "{batch_a}", "success"),
    (
        "op-a",
        "GET",
        "/exchange/batches/{batch_a}/issues.csv",
        None,
        "exchange.batch.issues_export",
        "{batch_a}",
        "success",
    ),
    ("op-b", "GET", "/exchange/batches/{batch_a}", None, "access.denied", "/exchange/batches/{batch_a}", "denied"),
    ("res", "GET", "/exchange/quality?consortium=CONSB", None, "exchange.quality.view", "CONSB", "success"),
    ("res", "GET", "/exchange/quality.xlsx", None, "exchange.quality.export", "*", "success"),
    ("op-a", "POST", "/exchange/tokens", {"name": "audited"}, "exchange.token.create", None, "success"),
    ("admin", "POST", "/exchange/tokens/{token_b}/revoke", {}, "exchange.token.revoke", "{token_b}", "success"),
    (
        "admin",
        "POST",
        "/admin/exchange/insurers",
        {"insurer_number": "06130012", "insurer_name": "保険者", "login_id": "ins2"},
        "account.create",
        "ins2",
        "success",
    ),
    ("admin", "GET", "/admin/surveys/{survey_open}/national", None, "report.national.view", "{survey_open}", "success"),
    (
        "admin",
        "GET",
        "/admin/surveys/{survey_open}/national.xlsx",
        None,
        "report.national.export",
        "{survey_open}",
        "success",
    ),
    ("token-a", "GET", "/api/v1/exchange/batches", None, "exchange.batches.view", "*", "success"),
    ("token-a", "GET", "/api/v1/exchange/batches/{batch_a}", None, "exchange.batch.view", "{batch_a}", "success"),
    (
        "token-a",
        "GET",
        "/api/v1/exchange/batches/{batch_b}",
        None,
        "access.denied",
        "/api/v1/exchange/batches/{batch_b}",
        "denied",
    ),
    (
        "token-a",
        "GET",
        "/api/v1/exchange/batches/{batch_a}/issues.csv",
        None,
        "exchange.batch.issues_export",
        "{batch_a}",
        "success",
    ),
    (
        "token-a",
        "GET",
        "/api/v1/exchange/participants/PA0001/records",
        None,
        "exchange.records.view",
        "PA0001",
        "success",
    ),
    (
        "admin",
        "GET",
        "/api/v1/exchange/fhir/$export?consortium=CONSB&participant=QB0001",
        None,
        "exchange.fhir.export",
        "QB0001",
        "success",
    ),
    ("token-a", "GET", "/api/v1/exchange/fhir/$export", None, "exchange.fhir.export", "*", "success"),
    # Researchers and read-all tokens read aggregates only: their record-level reads are refused and audited.
    (
        "token-all",
        "GET",
        "/api/v1/exchange/fhir/$export?consortium=CONSB&participant=QB0001",
        None,
        "access.denied",
        "/api/v1/exchange/fhir/$export",
        "denied",
    ),
    (
        "token-all",
        "GET",
        "/api/v1/exchange/participants/QB0001/records",
        None,
        "access.denied",
        "/api/v1/exchange/participants/QB0001/records",
        "denied",
    ),
    (
        "res",
        "GET",
        "/api/v1/exchange/fhir/$export?consortium=CONSA",
        None,
        "access.denied",
        "/api/v1/exchange/fhir/$export",
        "denied",
    ),
    (
        "res",
        "GET",
        "/exchange/batches/{batch_b}/issues.csv",
        None,
        "access.denied",
        "/exchange/batches/{batch_b}/issues.csv",
        "denied",
    ),
    ("res", "GET", "/exchange/batches/{batch_b}", None, "exchange.batch.view", "{batch_b}", "success"),
]


@pytest.mark.parametrize(("who", "method", "url", "form", "action", "object_id", "outcome"), WEB_CASES)
def test_web_and_api_actions_are_audited(
    tenants: Tenants,
    who: str,
    method: str,
    url: str,
    form: dict[str, str] | None,
    action: str,
    object_id: str | None,
    outcome: str,
) -> None:
    seq = _last_seq(tenants)
    target = url.format(**tenants.ids)
    with tenants.client(who) as client:
        response = client.get(target) if method == "GET" else client.post(target, data=form or {})
    assert response.status_code < 500
    events = [e for e in _events_after(tenants, seq) if e.action == action]
    assert events, f"no {action} event after {method} {target} ({response.status_code})"
    event = events[-1]
    assert event.outcome == outcome
    assert event.address == "testclient"
    if who.startswith("token-"):
        assert re.fullmatch(r"token:[0-9]+", event.actor) and event.role == "token"
    else:
        assert event.actor == f"user:{who}" and event.role
    if object_id is not None:
        assert event.object_id == object_id.format(**tenants.ids)
    _assert_clean(tenants, _events_after(tenants, seq))


def test_api_ingest_is_audited_with_counts_only(tenants: Tenants) -> None:
    seq = _last_seq(tenants)
    with tenants.client("token-a") as client:
        sent = client.post(
            "/api/v1/exchange/batches",
            content=activity_csv(("CONSA", "PA0001", "20250112")),
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert sent.status_code == 400  # a malformed multipart body: refused, and audited as a failure
        ok = client.post(
            "/api/v1/exchange/batches", files={"files": ("activity.csv", activity_csv(("CONSA", "PA0001", "20250112")))}
        )
        assert ok.status_code == 201
    events = [e for e in _events_after(tenants, seq) if e.action == "exchange.batch.ingest"]
    assert [e.outcome for e in events] == ["failure", "success"]
    assert events[1].object_id == ok.json()["batch_id"]
    assert events[1].detail["stored"] == 1 and events[1].detail["channel"] == "api"
    _assert_clean(tenants, events)


def test_web_upload_is_audited(tenants: Tenants) -> None:
    seq = _last_seq(tenants)
    with tenants.client("op-a") as client:
        sent = client.post(
            "/exchange/upload", files={"files": ("activity.csv", activity_csv(("CONSA", "PA0001", "20250113")))}
        )
        assert sent.status_code == 303
        bad = client.post("/exchange/upload", files={"files": ("activity.xlsx", b"PK")})
        assert bad.status_code == 415
    events = [e for e in _events_after(tenants, seq) if e.action == "exchange.batch.ingest"]
    assert [(e.outcome, e.actor) for e in events] == [("success", "user:op-a"), ("failure", "user:op-a")]
    assert events[1].detail == {"channel": "web", "error": "DH-X303"}
    _assert_clean(tenants, events)


def test_every_audit_event_of_the_world_is_clean(tenants: Tenants) -> None:
    """Whatever ran before in this module: no event anywhere carries a secret or a health value,
    and the chain still verifies."""
    events = _events_after(tenants, 0)
    assert len(events) > 20
    _assert_clean(tenants, events)
    with tenants.sessions() as db:
        assert audit_log.verify(db).ok


# --- command line ----------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_world(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Tenants:
    world = build(tmp_path, sqlite_template)
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(world.settings.data_dir))
    monkeypatch.setenv("DATAHEALTH_SECRET_KEY", f.SECRET_KEY)
    monkeypatch.setenv("DATAHEALTH_ENVIRONMENT", "test")
    monkeypatch.setenv("COLUMNS", "200")
    return world


def test_cli_actions_are_audited_with_the_os_user(cli_world: Tenants, tmp_path: Path) -> None:
    t = cli_world
    data = tmp_path / "activity.csv"
    data.write_bytes(activity_csv(("CONSA", "PA0001", "20250114")))
    hospitals = tmp_path / "hospitals.csv"
    hospitals.write_text("bad,header\n1,2\n", encoding="utf-8")
    commands = [
        (
            ["exchange", "ingest", str(data), "--consortium", "CONSA", "--report", str(tmp_path / "r.csv")],
            "exchange.batch.ingest",
        ),
        (["exchange", "fhir-export", "--consortium", "CONSA", "-o", str(tmp_path / "fhir")], "exchange.fhir.export"),
        (["exchange", "consortium", "add", "CONSC", "コンソーシアムC"], "exchange.consortium.create"),
        (["survey", "import", "cyber-fy2024"], "survey.create"),  # FY2024 already registered: a failure, no event
        (["report", "national", "-o", str(tmp_path / "reports"), "--format", "xlsx"], "report.national.export"),
        (["backup", "create", "--dir", str(tmp_path / "backups")], "backup.create"),
    ]
    expected_actions = set()
    seq = _last_seq(t)
    for args, action in commands:
        result = runner.invoke(cli_app, args)
        if args[:2] != ["survey", "import"]:
            assert result.exit_code in (0, 1), (args, result.output)
            expected_actions.add(action)
    events = _events_after(t, seq)
    actions = {e.action for e in events}
    assert expected_actions <= actions, sorted(expected_actions - actions)
    for event in events:
        assert event.actor == f"cli:{getpass.getuser()}" and event.role == "cli" and event.address == "cli"
    ingest = next(e for e in events if e.action == "exchange.batch.ingest")
    assert ingest.detail["channel"] == "cli" and ingest.object_id
    _assert_clean(t, events)
    with t.sessions() as db:
        assert audit_log.verify(db).ok
