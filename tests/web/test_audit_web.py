"""What people do is in the audit log, administrators can read and export it, nobody can hide anything."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from datahealth.audit.tables import AuditEvent
from datahealth.cli import app as cli


def _events(session_factory: sessionmaker[Session]) -> list[AuditEvent]:
    with session_factory() as db:
        return list(db.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_logins_views_changes_and_denials_are_recorded(browser, other_browser, world, session_factory):
    browser.get("/login")
    browser.post("/login", {"login_id": "hosp-a", "password": "wrong", "next": "/"})
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"})
    browser.get("/admin")  # not for hospitals
    actions = [(e.actor, e.action, e.outcome) for e in _events(session_factory)]
    assert ("user:hosp-a", "auth.login", "failure") in actions
    assert ("user:hosp-a", "auth.login", "success") in actions
    assert ("user:hosp-a", "survey.response.view", "success") in actions
    assert ("user:hosp-a", "survey.response.save", "success") in actions
    assert ("user:hosp-a", "access.denied", "denied") in actions
    saved = next(e for e in _events(session_factory) if e.action == "survey.response.save")
    assert saved.address == "testclient" and saved.detail == {"section": "governance", "questions": 1}
    assert "yes" not in str(saved.detail)  # answers never reach the log


def test_admin_views_filters_and_exports(browser, other_browser, world, session_factory):
    other_browser.get("/login")
    other_browser.post("/login", {"login_id": "hosp-b", "password": "wrong", "next": "/"})
    browser.login("admin")
    page = browser.get("/admin/audit?outcome=failure")
    assert page.status_code == 200 and "改ざんは検出されませんでした" in page.text
    assert "user:hosp-b" in page.text and "survey.response" not in page.text
    assert browser.get("/admin/audit?outcome=deleted").status_code == 400
    exported = browser.get("/admin/audit.csv?action=auth.")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows and all(row["action"].startswith("auth.") for row in rows)
    assert {"seq", "at_jst", "actor", "hash"} <= set(rows[0])
    assert rows[0]["at_jst"].endswith("+09:00")
    actions = [e.action for e in _events(session_factory)]
    assert "audit.view" in actions and "audit.export" in actions


def test_hospitals_cannot_read_the_audit_log(browser, world):
    browser.login("hosp-a")
    assert browser.get("/admin/audit").status_code == 404
    assert browser.get("/admin/audit.csv").status_code == 404


def test_cli_verify(browser, world, settings, monkeypatch):
    browser.login("hosp-a")
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0 and "chain intact" in result.stdout
