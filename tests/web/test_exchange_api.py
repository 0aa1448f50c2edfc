"""The exchange JSON API: tokens, tenancy, the error envelope, size/type limits, idempotency, OpenAPI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from datahealth.exchange import consortia
from datahealth.exchange.tables import ApiToken, Batch, table_for
from datahealth.exchange.tokens import ALL_CONSORTIA, create_token, revoke_token
from datahealth.web.app import create_app

REGISTERED = datetime(2025, 1, 1, tzinfo=UTC)
COLUMNS = (
    "consortium_id,participant_id,observation_time,step,walk_time,model_manufacturer_code,model_number,"
    "production_specification_serial,total_active_duration,data_input_code,measurement_position_code,"
    "origin_of_time_code,update_time"
)


def activity_row(cid: str, pid: str, day: str, step: str = "8000", update: str = "20250131120000000") -> str:
    return f"{cid},{pid},{day}000000,{step},60,M01,AM-100,SN1,1440,0,30,0,{update}"


def activity_csv(*rows: str) -> bytes:
    return ("\n".join((COLUMNS, *rows)) + "\n").encode()


@dataclass
class Hub:
    token_a: str
    token_b: str
    token_all: str
    revoked_a: str


@pytest.fixture
def hub(session_factory: sessionmaker[Session]) -> Hub:
    return make_hub(session_factory)


def make_hub(session_factory: sessionmaker[Session]) -> Hub:
    """Consortia CONSA (participant P001) and CONSB (Q001), one activity meter, and API tokens."""
    with session_factory.begin() as db:
        consortia.create_consortium(db, "CONSA", "コンソーシアムA")
        consortia.create_consortium(db, "CONSB", "コンソーシアムB")
        db.execute(
            insert(table_for("device")),
            [
                {
                    "model_manufacturer_code": "M01",
                    "model_number": "AM-100",
                    "device_name": "歩数計",
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
                    "birth_year_month": "198004",
                    "sex_code": "2",
                    "participation_start_date": date(2024, 12, 1),
                    "participation_end_date": None,
                    "residence_prefecture_code": "13",
                    "medication_code": "0",
                    "updated_at": REGISTERED,
                }
                for cid, pid in (("CONSA", "P001"), ("CONSB", "Q001"))
            ],
        )
        _, token_a = create_token(db, "CONSA", "nightly", None, REGISTERED)
        _, token_b = create_token(db, "CONSB", "nightly", None, REGISTERED)
        _, token_all = create_token(db, ALL_CONSORTIA, "research", None, REGISTERED)
        revoked, revoked_a = create_token(db, "CONSA", "old", None, REGISTERED)
        revoke_token(db, revoked.id, "CONSA", REGISTERED)
    return Hub(token_a, token_b, token_all, revoked_a)


@pytest.fixture
def api(app) -> TestClient:
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send_csv(api: TestClient, token: str, content: bytes, name: str = "activity.csv", **kwargs):
    return api.post(
        "/api/v1/exchange/batches", headers=auth(token), files=[("files", (name, content, "text/csv"))], **kwargs
    )


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == response.status_code
    problem = body["error"]["problems"][0]
    assert problem["message_ja"] and problem["message_en"]
    return body["error"]["code"]


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer dhx_nope"}, {"Authorization": "Basic abc"}])
def test_missing_or_wrong_token_is_401(api, hub, headers):
    response = api.get("/api/v1/exchange/batches", headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "DH-X301"


def test_revoked_token_is_401_and_last_use_is_recorded(api, hub, session_factory, clock):
    response = api.get("/api/v1/exchange/batches", headers=auth(hub.revoked_a))
    assert response.status_code == 401 and error_code(response) == "DH-X301"
    assert api.get("/api/v1/exchange/batches", headers=auth(hub.token_a)).status_code == 200
    with session_factory() as db:
        used = db.scalars(select(ApiToken.last_used_at).where(ApiToken.name == "nightly")).all()
    assert clock.moment in used


def test_revoking_through_the_service_locks_the_api_out(api, hub, session_factory, clock):
    assert api.get("/api/v1/exchange/batches", headers=auth(hub.token_b)).status_code == 200
    with session_factory.begin() as db:
        token = db.scalars(select(ApiToken).where(ApiToken.consortium_id == "CONSB")).one()
        revoke_token(db, token.id, "CONSB", clock.moment)
    response = api.get("/api/v1/exchange/batches", headers=auth(hub.token_b))
    assert response.status_code == 401 and error_code(response) == "DH-X301"


# --- sending ----------------------------------------------------------------------------------------


def test_post_csv_stores_valid_records_and_reports_each_problem(api, hub):
    content = activity_csv(
        activity_row("CONSA", "P001", "20250110"),
        activity_row("CONSA", "P001", "20250111", step="70000"),  # stored, flagged
        activity_row("CONSB", "Q001", "20250111"),  # another consortium's record
        activity_row("CONSA", "P001", "20250230"),  # no 30 February
    )
    response = send_csv(api, hub.token_a, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "partial"
    counts = body["counts"]["activity"]
    assert (counts["received"], counts["stored"], counts["rejected"], counts["flagged"]) == (4, 2, 2, 1)
    issues = {(i["code"], i["locator"], i["field"]) for i in body["issues"]}
    assert issues == {
        ("DH-X109", "line 4", "consortium_id"),
        ("DH-X103", "line 5", "observation_time"),
        ("DH-W201", "line 3", "step"),
    }
    x109 = next(i for i in body["issues"] if i["code"] == "DH-X109")
    assert x109["source"] == "activity.csv" and x109["value"] == "CONSB" and x109["severity"] == "error"
    assert "CONSB" in x109["message_ja"] and "CONSB" in x109["message_en"]
    assert body["issues_total"] == 3 and body["issues_truncated"] is False and body["duplicate_of"] is None

    # Nothing of CONSB was written through CONSA's token.
    records = api.get("/api/v1/exchange/participants/Q001/records", headers=auth(hub.token_b)).json()
    assert records["participants"][0]["records"]["activity"] == []


def test_post_json_message_and_read_it_back(api, hub):
    message = {
        "header": {
            "version": "1.0",
            "send_time": "20250115090000000",
            "consortium_id": "CONSA",
            "participant_id": "P001",
        },
        "activity": [
            {
                "observation_time": "20250114000000",
                "step": "9123",
                "walk_time": "75",
                "model_manufacturer_code": "M01",
                "model_number": "AM-100",
                "production_specification_serial": "SN1",
                "total_active_duration": "1440",
                "data_input_code": "1",
                "measurement_position_code": "30",
                "origin_of_time_code": "0",
                "update_time": "20250115085959000",
            }
        ],
    }
    response = api.post("/api/v1/exchange/batches", headers=auth(hub.token_a), json=[message])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"
    assert response.json()["counts"]["activity"]["stored"] == 1

    records = api.get(
        "/api/v1/exchange/participants/P001/records?type=activity&from=20250114&to=2025-01-14",
        headers=auth(hub.token_a),
    )
    assert records.status_code == 200
    (participant,) = records.json()["participants"]
    (stored,) = participant["records"]["activity"]
    assert participant["consortium_id"] == "CONSA" and set(participant["records"]) == {"activity"}
    assert (stored["observation_time"], stored["step"], stored["update_time"]) == (
        "20250114000000",
        "9123",
        "20250115085959000",
    )
    outside = api.get("/api/v1/exchange/participants/P001/records?from=20250115", headers=auth(hub.token_a))
    assert outside.json()["participants"][0]["records"]["activity"] == []
    # 29 February of a common year is that February's last day.
    leap = api.get("/api/v1/exchange/participants/P001/records?from=20240229&to=2025-02-29", headers=auth(hub.token_a))
    assert len(leap.json()["participants"][0]["records"]["activity"]) == 1

    batch = api.get(f"/api/v1/exchange/batches/{response.json()['batch_id']}", headers=auth(hub.token_a)).json()
    assert batch["wire_format"] == "json" and batch["channel"] == "api" and batch["consortium_id"] == "CONSA"


def test_strict_mode_stores_nothing_when_anything_is_wrong(api, hub):
    content = activity_csv(activity_row("CONSA", "P001", "20250110"), activity_row("CONSA", "P001", "2025011"))
    response = send_csv(api, hub.token_a, content, params={"strict": "true"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rejected" and body["counts"]["activity"]["stored"] == 0
    assert "DH-X203" in {issue["code"] for issue in body["issues"]}
    records = api.get("/api/v1/exchange/participants/P001/records", headers=auth(hub.token_a)).json()
    assert records["participants"][0]["records"]["activity"] == []


def test_idempotency_key_returns_the_first_result(api, hub, session_factory):
    content = activity_csv(activity_row("CONSA", "P001", "20250110"), activity_row("CONSA", "P001", "20250111"))
    headers = {**auth(hub.token_a), "Idempotency-Key": "upload-2025-01-11"}
    first = api.post("/api/v1/exchange/batches", headers=headers, files=[("files", ("activity.csv", content))])
    again = api.post("/api/v1/exchange/batches", headers=headers, files=[("files", ("activity.csv", content))])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["batch_id"] == first.json()["batch_id"] == again.json()["duplicate_of"]
    assert again.json()["counts"] == first.json()["counts"]
    # The same key from another consortium is a different batch.
    other = api.post(
        "/api/v1/exchange/batches",
        headers={**auth(hub.token_b), "Idempotency-Key": "upload-2025-01-11"},
        files=[("files", ("activity.csv", activity_csv(activity_row("CONSB", "Q001", "20250110"))))],
    )
    assert other.status_code == 201 and other.json()["batch_id"] != first.json()["batch_id"]
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Batch)) == 2
        assert db.scalar(select(func.count()).select_from(table_for("activity"))) == 3


def test_bad_idempotency_key_is_the_envelope_400(api, hub):
    headers = {**auth(hub.token_a), "Idempotency-Key": "x" * 101}
    response = api.post("/api/v1/exchange/batches", headers=headers, json={"header": {}})
    assert response.status_code == 400 and error_code(response) == "DH-G400"


@pytest.mark.parametrize(
    ("kwargs", "value"),
    [
        ({"content": b"step=1", "headers": {"Content-Type": "text/plain"}}, "text/plain"),
        ({"content": b"<xml/>", "headers": {"Content-Type": "application/xml"}}, "application/xml"),
        ({"files": [("files", ("activity.xlsx", b"PK..."))]}, "activity.xlsx"),
    ],
)
def test_unsupported_type_is_415(api, hub, kwargs, value):
    extra = dict(kwargs)  # the parameter dict is shared by both database runs: never mutate it
    headers = {**auth(hub.token_a), **extra.pop("headers", {})}
    response = api.post("/api/v1/exchange/batches", headers=headers, **extra)
    assert response.status_code == 415
    assert error_code(response) == "DH-X303"
    assert value in response.json()["error"]["problems"][0]["message_en"]


def test_empty_multipart_is_400(api, hub):
    response = api.post("/api/v1/exchange/batches", headers=auth(hub.token_a), files=[("note", ("", b""))])
    assert response.status_code == 400 and error_code(response) == "DH-G400"


def test_body_over_the_limit_is_413(settings, clock, hub):
    small = create_app(settings.model_copy(update={"max_upload_bytes": 2048}), clock=clock)
    rows = [activity_row("CONSA", "P001", f"202501{day:02d}") for day in range(1, 31)]
    content = activity_csv(*rows)
    assert len(content) > 2048
    with TestClient(small) as client:
        response = client.post(
            "/api/v1/exchange/batches", headers=auth(hub.token_a), files=[("files", ("activity.csv", content))]
        )
        assert response.status_code == 413 and error_code(response) == "DH-X302"

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(10):
                yield b"x" * 1024

        streamed = client.post(
            "/api/v1/exchange/batches",
            headers={**auth(hub.token_a), "Content-Type": "application/json"},
            content=chunks(),
        )
        assert streamed.status_code == 413 and error_code(streamed) == "DH-X302"
        small_enough = client.post(
            "/api/v1/exchange/batches",
            headers=auth(hub.token_a),
            files=[("files", ("activity.csv", activity_csv(rows[0])))],
        )
        assert small_enough.status_code == 201


# --- reading and tenancy -----------------------------------------------------------------------------


def test_tenancy_other_consortium_sees_404_exactly_like_nothing(api, hub):
    batch_id = send_csv(api, hub.token_a, activity_csv(activity_row("CONSA", "P001", "20250110"))).json()["batch_id"]
    mine = api.get(f"/api/v1/exchange/batches/{batch_id}", headers=auth(hub.token_a))
    assert mine.status_code == 200 and mine.json()["counts"]["activity"]["stored"] == 1

    theirs = api.get(f"/api/v1/exchange/batches/{batch_id}", headers=auth(hub.token_b))
    missing = api.get("/api/v1/exchange/batches/00000000-0000-0000-0000-000000000000", headers=auth(hub.token_b))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() and error_code(theirs) == "DH-G404"
    assert api.get(f"/api/v1/exchange/batches/{batch_id}/issues.csv", headers=auth(hub.token_b)).status_code == 404
    assert api.get("/api/v1/exchange/batches", headers=auth(hub.token_b)).json()["total"] == 0
    listed = api.get("/api/v1/exchange/batches?consortium_id=CONSA", headers=auth(hub.token_b))
    assert listed.status_code == 404

    other_participant = api.get("/api/v1/exchange/participants/Q001/records", headers=auth(hub.token_a))
    nobody = api.get("/api/v1/exchange/participants/NOBODY/records", headers=auth(hub.token_a))
    assert other_participant.status_code == nobody.status_code == 404
    assert other_participant.json() == nobody.json()
    assert api.get("/api/v1/exchange/participants/P001/records", headers=auth(hub.token_b)).status_code == 404


def test_read_all_token_reads_aggregates_of_every_consortium_but_no_records(api, hub):
    send_csv(api, hub.token_a, activity_csv(activity_row("CONSA", "P001", "20250110")))
    send_csv(
        api,
        hub.token_b,
        activity_csv(activity_row("CONSB", "Q001", "20250110"), activity_row("CONSB", "Q001", "20250111", step="7.5")),
    )
    everything = api.get("/api/v1/exchange/batches", headers=auth(hub.token_all)).json()
    assert everything["total"] == 2
    assert {b["consortium_id"] for b in everything["batches"]} == {"CONSA", "CONSB"}
    only_b = api.get("/api/v1/exchange/batches?consortium_id=CONSB", headers=auth(hub.token_all)).json()
    assert [b["consortium_id"] for b in only_b["batches"]] == ["CONSB"]
    assert only_b["batches"][0]["counts"]["activity"]["rejected"] == 1
    # A batch's summary and its issues counted per code, but no issue rows (they carry values and line numbers).
    batch_b = only_b["batches"][0]["batch_id"]
    detail = api.get(f"/api/v1/exchange/batches/{batch_b}", headers=auth(hub.token_all)).json()
    assert detail["issues"] == [] and detail["issues_withheld"] is True and detail["issues_total"] == 1
    assert [(i["code"], i["field"], i["issues"]) for i in detail["issue_summary"]] == [("DH-X105", "step", 1)]
    assert "7.5" not in json.dumps(detail) and "Q001" not in json.dumps(detail)
    own = api.get(f"/api/v1/exchange/batches/{batch_b}", headers=auth(hub.token_b)).json()
    assert own["issues_withheld"] is False and own["issues"][0]["value"] == "7.5"
    assert own["issue_summary"] == detail["issue_summary"]
    # Record-level reads: 404, exactly like a participant or batch that does not exist.
    records = api.get("/api/v1/exchange/participants/Q001/records?type=activity", headers=auth(hub.token_all))
    nobody = api.get("/api/v1/exchange/participants/NOBODY/records", headers=auth(hub.token_all))
    assert records.status_code == nobody.status_code == 404 and records.json() == nobody.json()
    report = api.get(f"/api/v1/exchange/batches/{batch_b}/issues.csv", headers=auth(hub.token_all))
    assert report.status_code == 404

    refused = send_csv(api, hub.token_all, activity_csv(activity_row("CONSA", "P001", "20250112")))
    assert refused.status_code == 403 and error_code(refused) == "DH-X308"


def test_issue_report_csv(api, hub):
    content = activity_csv(activity_row("CONSA", "P001", "20250110", step="８０００"))
    batch_id = send_csv(api, hub.token_a, content).json()["batch_id"]
    report = api.get(f"/api/v1/exchange/batches/{batch_id}/issues.csv", headers=auth(hub.token_a))
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert report.content.startswith(b"\xef\xbb\xbf")
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("severity,code,source,locator,record_type,field,value,rule,message_ja,message_en")
    assert len(lines) == 2 and "DH-X107" in lines[1] and "line 2" in lines[1]


@pytest.mark.parametrize(
    "query",
    ["from=20250230", "from=2025-1-1", "to=2025-04-31", "type=steps", "limit=0", "to=abc", "strikt=true"],
)
def test_malformed_queries_use_the_envelope(api, hub, query):
    response = api.get(f"/api/v1/exchange/participants/P001/records?{query}", headers=auth(hub.token_a))
    assert response.status_code == 400 and error_code(response) == "DH-G400"


def test_unknown_api_path_is_a_json_404(api, hub):
    response = api.get("/api/v1/exchange/nothing", headers=auth(hub.token_a))
    assert response.status_code == 404 and error_code(response) == "DH-G404"


# --- the OpenAPI description -------------------------------------------------------------------------


def test_openapi_describes_the_exchange_api(api):
    assert api.get("/docs").status_code == 404  # no interactive docs, but the schema is served
    schema = api.get("/openapi.json")
    assert schema.status_code == 200
    spec = schema.json()
    paths = {path for path in spec["paths"] if path.startswith("/api/v1/exchange")}
    assert paths >= {
        "/api/v1/exchange/batches",
        "/api/v1/exchange/batches/{batch_id}",
        "/api/v1/exchange/batches/{batch_id}/issues.csv",
        "/api/v1/exchange/participants/{participant_id}/records",
    }
    assert not any(path.startswith("/exchange") for path in spec["paths"])  # HTML pages are not API
    post = spec["paths"]["/api/v1/exchange/batches"]["post"]
    assert set(post["requestBody"]["content"]) == {"multipart/form-data", "application/json", "application/x-ndjson"}
    assert {"200", "201", "400", "401", "403", "404", "413", "415", "4XX"} <= set(post["responses"])
    assert "422" not in post["responses"]  # validation errors are the envelope's 400
    assert post["responses"]["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    assert {p["name"] for p in post["parameters"]} == {"strict", "Idempotency-Key"}
    assert spec["components"]["securitySchemes"]["ExchangeToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["ExchangeToken"]["description"],
    }
    # Any JSON is a batch (bad records are reported in the result); the message format is in an extension.
    assert "type" not in post["requestBody"]["content"]["application/json"]["schema"]
    message = post["requestBody"]["content"]["application/json"]["x-exchange-message-schema"]["oneOf"][0]
    assert "$ref" not in json.dumps(message)  # self-contained: no dangling $defs references
    assert message["properties"]["activity"]["items"]["properties"]["step"]["anyOf"][0]["pattern"] == "^(?:[0-9]{1,5})$"
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    records = spec["paths"]["/api/v1/exchange/participants/{participant_id}/records"]["get"]
    assert {p["name"] for p in records["parameters"]} >= {"participant_id", "type", "from", "to"}
