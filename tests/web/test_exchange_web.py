"""Exchange pages in the browser (no JavaScript): batches, upload, tokens, quality, consortia, English."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import openpyxl
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import factories as f
from datahealth.audit.tables import AuditEvent
from datahealth.auth.tables import OrgKind, Role
from datahealth.exchange import consortia
from datahealth.exchange.ingest_job import ACTION
from datahealth.exchange.tables import ApiToken, Batch, table_for
from datahealth.web.app import create_app
from web_client import Browser

REGISTERED = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "consortium_id,participant_id,observation_time,step,walk_time,model_manufacturer_code,model_number,"
    "production_specification_serial,total_active_duration,data_input_code,measurement_position_code,"
    "origin_of_time_code,update_time"
)


def row(cid: str, pid: str, day: str, step: str = "8000", code: str = "0") -> str:
    return f"{cid},{pid},{day}000000,{step},60,M01,AM-100,SN1,1440,{code},30,0,20250131120000000"


def csv_file(*rows: str) -> bytes:
    return ("\n".join((COLUMNS, *rows)) + "\n").encode("utf-8-sig")


@pytest.fixture
def hub(session_factory: sessionmaker[Session]) -> None:
    """CONSA (operator ``op-a``, participant P001 since 2025-01-01), CONSB (``op-b``, Q001), a researcher
    ``res``, the administrator ``admin`` and a hospital account ``hosp``."""
    with session_factory.begin() as db:
        a = consortia.create_consortium(db, "CONSA", "コンソーシアムA")
        b = consortia.create_consortium(db, "CONSB", "コンソーシアムB")
        f.make_user(db, a, "op-a", role=Role.CONSORTIUM)
        f.make_user(db, b, "op-b", role=Role.CONSORTIUM)
        admin = f.make_admin(db, "admin")
        f.make_user(db, admin.organisation, "res", role=Role.RESEARCHER)
        f.make_user(db, f.make_org(db), "hosp")
        db.execute(
            insert(table_for("device")),
            [
                {
                    "model_manufacturer_code": "M01",
                    "model_number": "AM-100",
                    "device_name": "歩数計ワン",
                    "device_category_code": "1",
                    "time_correction_code": "0",
                    "measured_items": "walk_time",
                    "updated_at": REGISTERED,
                }
            ],
        )
        db.execute(
            insert(table_for("participant")),
            [
                {
                    "consortium_id": cid,
                    "participant_id": pid,
                    "birth_year_month": "197507",
                    "sex_code": "1",
                    "participation_start_date": date(2025, 1, 1),
                    "participation_end_date": None,
                    "residence_prefecture_code": "27",
                    "medication_code": "1",
                    "updated_at": REGISTERED,
                }
                for cid, pid in (("CONSA", "P001"), ("CONSB", "Q001"))
            ],
        )


def upload(browser, content: bytes, name: str = "activity.csv", strict: bool = False):
    browser.get("/exchange/upload")
    data = {"strict": "1"} if strict else {}
    return browser.post(
        "/exchange/upload", data, files=[("files", (name, content, "text/csv"))], follow_redirects=False
    )


def test_an_upload_through_an_ingest_process_answers_the_same(settings, clock, hub, session_factory):
    """``DATAHEALTH_INGEST_PROCESSES=1``: the form's batch is ingested and audited in another process."""
    app = create_app(settings.model_copy(update={"ingest_processes": 1}), clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        browser = Browser(client, clock)
        browser.login("op-a")
        sent = upload(browser, csv_file(row("CONSA", "P001", "20250110"), row("CONSA", "P001", "2025011")))
        assert sent.status_code == 303
        assert "一部受付（誤りあり）" in browser.get(sent.headers["location"]).text
        refused = upload(browser, b"PK\x03\x04", name="activity.xlsx")
        assert refused.status_code == 415 and "CSV、JSON、FHIR NDJSON に対応" in refused.text
    with session_factory() as db:
        batch = db.scalars(select(Batch)).one()
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == ACTION).order_by(AuditEvent.seq)).all()
    assert (batch.channel, batch.submitted_by, batch.status) == ("web", "user:op-a", "partial")
    assert [(e.actor, e.outcome, e.address) for e in events] == [
        ("user:op-a", "success", "testclient"),
        ("user:op-a", "failure", "testclient"),
    ]


def test_operator_lands_on_exchange_and_sends_a_file(browser, hub, session_factory):
    browser.login("op-a")
    home = browser.get("/")
    assert home.url.path == "/exchange"
    assert 'href="/exchange"' in home.text and "データ交換" in home.text
    assert "まだ送信はありません。" in home.text

    sent = upload(browser, csv_file(row("CONSA", "P001", "20250110"), row("CONSB", "Q001", "20250110")))
    assert sent.status_code == 303
    page = browser.get(sent.headers["location"])
    assert page.status_code == 200
    assert "送信を受け付けました" in page.text
    assert "一部受付（誤りあり）" in page.text
    assert "DH-X109" in page.text and "line 3" in page.text
    with session_factory() as db:
        batch = db.scalars(select(Batch)).one()
        assert (batch.channel, batch.consortium_id, batch.submitted_by) == ("web", "CONSA", "user:op-a")

    listing = browser.get("/exchange")
    assert f'href="/exchange/batches/{batch.id}"' in listing.text
    report = browser.get(f"/exchange/batches/{batch.id}/issues.csv")
    assert report.status_code == 200 and report.content.startswith(b"\xef\xbb\xbf")
    assert "DH-X109" in report.content.decode("utf-8-sig")


def test_upload_needs_csrf(browser, hub):
    browser.login("op-a")
    browser.get("/exchange/upload")
    browser.csrf = "forged"
    response = browser.post(
        "/exchange/upload", files=[("files", ("activity.csv", csv_file(row("CONSA", "P001", "20250110"))))]
    )
    assert response.status_code == 403


def test_upload_errors_are_shown_on_the_form(browser, hub):
    browser.login("op-a")
    response = upload(browser, b"PK\x03\x04", name="activity.xlsx")
    assert response.status_code == 415 and "DH-X303" not in response.text  # the message, not the code
    assert "対応していない形式です：activity.xlsx" in response.text
    browser.get("/exchange/upload")
    empty = browser.post("/exchange/upload", {})
    assert empty.status_code == 400 and "リクエストの内容が不正です" in empty.text


def test_strict_upload_stores_nothing(browser, hub, session_factory):
    browser.login("op-a")
    sent = upload(browser, csv_file(row("CONSA", "P001", "20250110"), row("CONSA", "P001", "2025011")), strict=True)
    page = browser.get(sent.headers["location"])
    assert "不受理（保存なし）" in page.text and "DH-X203" in page.text
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(table_for("activity"))) == 0


def test_issue_list_is_paginated_and_filtered(browser, hub):
    browser.login("op-a")
    bad = [row("CONSA", "P001", "20250110", step=f"{n}.5") for n in range(130)]
    sent = upload(browser, csv_file(row("CONSA", "P001", "20250111", step="99000"), *bad))
    url = sent.headers["location"].split("?")[0]
    first = browser.get(url)
    assert "指摘事項（131）" in first.text and 'rel="next"' in first.text
    assert first.text.count('class="issue-') == 100
    second = browser.get(url + "?severity=&page=2")
    assert second.text.count('class="issue-') == 31
    flags = browser.get(url + "?severity=flag")
    assert flags.text.count('class="issue-flag"') == 1 and "DH-W201" in flags.text


def test_other_consortium_cannot_see_a_batch(browser, other_browser, hub):
    browser.login("op-a")
    batch_url = upload(browser, csv_file(row("CONSA", "P001", "20250110"))).headers["location"].split("?")[0]
    other_browser.login("op-b")
    assert other_browser.get(batch_url).status_code == 404
    assert other_browser.get(batch_url + "/issues.csv").status_code == 404
    assert "まだ送信はありません。" in other_browser.get("/exchange").text
    # A consortium selector is not an operator's way around tenancy either.
    assert "CONSA" not in other_browser.get("/exchange?consortium=CONSA").text.split("<main", 1)[1].split("</h1>")[0]
    assert other_browser.get("/exchange/quality?consortium=CONSA").text.count("P001") == 0


def test_hospital_accounts_have_no_exchange_pages(browser, hub):
    browser.login("hosp")
    for url in ("/exchange", "/exchange/upload", "/exchange/tokens", "/exchange/quality"):
        assert browser.get(url).status_code == 404
    assert 'href="/exchange"' not in browser.get("/").text


def test_tokens_are_shown_once_and_can_be_revoked(browser, other_browser, hub, session_factory):
    browser.login("op-a")
    browser.get("/exchange/tokens")
    created = browser.post("/exchange/tokens", {"name": "夜間バッチ"})
    assert created.status_code == 200
    plaintext = re.search(r'<code class="token">(dhx_[A-Za-z0-9_-]+)</code>', created.text).group(1)
    again = browser.get("/exchange/tokens")
    assert plaintext not in again.text and plaintext[:12] in again.text and "夜間バッチ" in again.text

    api = browser.client
    assert api.get("/api/v1/exchange/batches", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    with session_factory() as db:
        token = db.scalars(select(ApiToken)).one()
    assert token.consortium_id == "CONSA" and token.last_used_at is not None

    # Another consortium's operator cannot revoke it (404), its own operator can.
    other_browser.login("op-b")
    other_browser.get("/exchange/tokens")
    assert other_browser.post(f"/exchange/tokens/{token.id}/revoke").status_code == 404
    revoked = browser.post(f"/exchange/tokens/{token.id}/revoke")
    assert revoked.status_code == 200 and "トークンを失効させました。" in revoked.text
    response = api.get("/api/v1/exchange/batches", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "DH-X301"
    empty_name = browser.post("/exchange/tokens", {"name": " "})
    assert empty_name.status_code == 400


def test_researcher_reads_every_consortium_but_cannot_send(browser, other_browser, hub):
    other_browser.login("op-a")
    sent = upload(other_browser, csv_file(row("CONSA", "P001", "20250110"), row("CONSA", "P001", "20250111", "7.5")))
    batch_url = sent.headers["location"].split("?")[0]
    browser.login("res")
    assert browser.get("/").url.path == "/exchange"
    page = browser.get("/exchange")
    assert 'name="consortium"' in page.text and "CONSA" in page.text
    # Aggregates only: the batch's summary and its issues counted per code, never the rows with values.
    batch = browser.get(batch_url)
    assert batch.status_code == 200 and 'id="issue-summary"' in batch.text and "DH-X105" in batch.text
    assert 'id="issues"' not in batch.text and "7.5" not in batch.text and "line 3" not in batch.text
    assert 'id="report-download"' not in batch.text
    assert browser.get(batch_url + "?severity=error").text.count("7.5") == 0
    assert browser.get(batch_url + "/issues.csv").status_code == 404
    quality = browser.get("/exchange/quality?consortium=CONSA")
    assert quality.status_code == 200 and "P001" not in quality.text and 'id="coverage-table"' not in quality.text
    assert browser.get("/api/v1/exchange/fhir/$export?consortium=CONSA").status_code == 404
    operator = other_browser.get(batch_url)  # the sender still sees its rows
    assert 'id="issues"' in operator.text and "7.5" in operator.text
    assert browser.get("/exchange/upload").status_code == 404
    assert 'href="/exchange/upload"' not in page.text
    assert "CONSA" in browser.get("/exchange?consortium=CONSB").text  # still offered in the selector
    assert 'id="batches"' not in browser.get("/exchange?consortium=CONSB").text

    browser.get("/exchange/tokens")
    created = browser.post("/exchange/tokens", {"name": "分析"})
    plaintext = re.search(r'<code class="token">(dhx_[A-Za-z0-9_-]+)</code>', created.text).group(1)
    refused = browser.client.post(
        "/api/v1/exchange/batches",
        headers={"Authorization": f"Bearer {plaintext}"},
        files=[("files", ("activity.csv", csv_file(row("CONSA", "P001", "20250112"))))],
    )
    assert refused.status_code == 403
    assert (
        browser.client.get("/api/v1/exchange/batches", headers={"Authorization": f"Bearer {plaintext}"}).json()["total"]
        == 1
    )


def test_quality_page_and_report(browser, hub, clock):
    browser.login("op-a")
    upload(
        browser,
        csv_file(
            row("CONSA", "P001", "20250110"),
            row("CONSA", "P001", "20250111", code="1"),
            row("CONSA", "P001", "20250112", step="65000"),
        ),
    )
    page = browser.get("/exchange/quality")
    assert page.status_code == 200
    # 2025-02-01 12:00 JST: P001 has been in since 2025-01-01 (32 days) with data on 3 of them.
    assert '<strong id="mean-coverage">9.4%</strong>' in page.text
    assert "歩数計ワン" in page.text and "DH-W201" in page.text
    assert "33.3%" in page.text  # one of three activity records entered by hand
    assert "2025-01" in page.text
    report = browser.get("/exchange/quality.xlsx")
    assert report.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(report.content))
    coverage = list(book["coverage"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[4], r[5]) for r in coverage] == [("P001", 32, 3)]


def test_admin_registers_a_consortium_whose_operator_activates(browser, other_browser, hub, session_factory):
    browser.login("admin")
    page = browser.get("/admin/exchange/consortia")
    assert page.status_code == 200 and "CONSA" in page.text
    created = browser.post(
        "/admin/exchange/consortia", {"consortium_id": "CONSC", "name": "コンソーシアムC", "login_id": ""}
    )
    assert created.status_code == 200
    login = re.search(r'<code id="new-login">([^<]+)</code>', created.text).group(1)
    code = re.search(r'<code id="new-code">([^<]+)</code>', created.text).group(1)
    assert login == "cconsc"
    duplicate = browser.post("/admin/exchange/consortia", {"consortium_id": "CONSC", "name": "again"})
    assert duplicate.status_code == 400 and "既に登録されています" in duplicate.text
    bad = browser.post("/admin/exchange/consortia", {"consortium_id": "c-1", "name": "x"})
    assert bad.status_code == 400
    researcher = browser.post("/admin/exchange/researchers", {"login_id": "res2", "display_name": "研究者2"})
    assert researcher.status_code == 200 and "res2" in researcher.text
    with session_factory() as db:
        org = consortia.find_consortium(db, "CONSC")
        assert org is not None and org.kind == OrgKind.CONSORTIUM

    other_browser.get("/activate")
    password = "a long enough passphrase"
    activated = other_browser.post(
        "/activate",
        {"login_id": login, "activation_code": code, "password": password, "password_confirmation": password},
        follow_redirects=False,
    )
    assert activated.status_code == 303
    other_browser.login(login, password)
    assert other_browser.get("/").url.path == "/exchange"
    assert "CONSC" in other_browser.get("/exchange").text

    # Operators and researchers have no administration.
    assert other_browser.get("/admin/exchange/consortia").status_code == 404


def test_admin_sees_all_tokens_and_uploads_as_secretariat(browser, hub, session_factory):
    browser.login("admin")
    tokens = browser.get("/exchange/tokens")
    assert tokens.status_code == 200 and 'name="name"' not in tokens.text  # the secretariat creates none
    devices = (
        "model_manufacturer_code,model_number,device_name,device_category_code,time_correction_code,measured_items\n"
        "M02,BP-1,血圧計,3,0,pulse_rate\n"
    ).encode()
    sent = upload(browser, devices, name="device.csv")
    assert sent.status_code == 303
    page = browser.get(sent.headers["location"])
    assert "受付（すべて保存）" in page.text and "事務局" in page.text
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(table_for("device"))) == 2


def test_english_ui(browser, hub):
    browser.login("op-a")
    browser.get("/lang/en?next=/exchange")
    page = browser.get("/exchange")
    assert "Data exchange" in page.text and "No batches yet." in page.text and "送信履歴" not in page.text
    sent = upload(browser, csv_file(row("CONSB", "Q001", "20250110")))
    result = browser.get(sent.headers["location"])
    assert "Rejected (nothing stored)" in result.text
    assert "is not registered or is not the sender&#39;s consortium" in result.text
    quality = browser.get("/exchange/quality")
    assert "Share of days with data" in quality.text and "Device mix" in quality.text
    tokens = browser.get("/exchange/tokens")
    assert "Create a token" in tokens.text
