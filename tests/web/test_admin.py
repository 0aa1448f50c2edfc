"""Administration in the browser (no JavaScript): surveys, period, status, progress, exports, hospitals."""

from __future__ import annotations

import base64
import csv
import io
import re
from datetime import date

import openpyxl
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import factories as f
from datahealth.auth.tables import User
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.tables import Survey
from datahealth.survey.xlsform import write_xlsform

HOSPITALS_CSV = (
    "医療機関コード,医療機関名,都道府県,病床数,開設者区分,メールアドレス\n"
    "0111234567,北海道テスト病院,北海道,80,医療法人,it@example.invalid\n"
    "4711234567,沖縄テスト病院,47,320,公的医療機関,\n"
).encode("utf-8-sig")


def _small_definition() -> SurveyDefinition:
    data = load_bundled("cyber-fy2024").model_dump(mode="json", exclude_none=True)
    data["id"], data["version"] = "cyber-fy2025", "2025.1"
    data["title"] = {"ja": "令和7年度 試験調査", "en": "FY2025 trial survey"}
    return SurveyDefinition.model_validate(data)


def test_only_administrators_reach_administration(browser, world):
    browser.login("hosp-a")
    assert browser.get("/admin").status_code == 404
    assert browser.get(f"/admin/surveys/{world.survey_id}/progress").status_code == 404


def test_admin_home_lists_surveys_with_progress(browser, world):
    browser.login("admin")
    page = browser.get("/")  # the administrator's home is the administration
    assert page.url.path == "/admin"
    assert "令和6年度 病院における医療情報システムのサイバーセキュリティ対策に係る調査" in page.text
    assert "受付中" in page.text


def test_register_survey_from_xlsform_upload_then_duplicate_is_refused(browser, world, session_factory):
    browser.login("admin")
    browser.get("/admin/surveys/new")
    upload = {
        "definition": (
            "fy2025.xlsx",
            write_xlsform(_small_definition()),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    }
    created = browser.post("/admin/surveys/new", files=upload, follow_redirects=False)
    assert created.status_code == 303
    with session_factory() as db:
        survey = db.scalar(select(Survey).where(Survey.survey_key == "cyber-fy2025"))
        assert survey is not None and survey.status == "draft" and survey.title_en == "FY2025 trial survey"
    browser.get("/admin/surveys/new")
    again = browser.post("/admin/surveys/new", files=upload)
    assert again.status_code == 409
    assert "同じ調査ID・版（cyber-fy2025 2025.1）が既に登録されています" in again.text


def test_broken_definition_upload_names_the_problem(browser, world):
    browser.login("admin")
    browser.get("/admin/surveys/new")
    response = browser.post(
        "/admin/surveys/new", files={"definition": ("bad.yaml", b"id: x\nsections: 3\n", "text/yaml")}
    )
    assert response.status_code == 422
    assert "sections" in response.text


def test_period_and_status_changes(browser, world, session_factory):
    browser.login("admin")
    browser.get(f"/admin/surveys/{world.survey_id}")
    bad = browser.post(
        f"/admin/surveys/{world.survey_id}/period", {"opens_on": "2025-03-10", "closes_on": "2025-03-01"}
    )
    assert bad.status_code == 400
    assert "回答期間の終了日（2025-03-01）が開始日（2025-03-10）より前です" in bad.text
    ok = browser.post(
        f"/admin/surveys/{world.survey_id}/period",
        {"opens_on": "2025-01-27", "closes_on": "2025-03-14"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    browser.post(f"/admin/surveys/{world.survey_id}/status", {"status": "closed"})
    with session_factory() as db:
        survey = db.get(Survey, world.survey_id)
        assert survey.closes_on == date(2025, 3, 14) and survey.status == "closed"


def test_closed_survey_cannot_be_answered(browser, other_browser, world):
    other_browser.login("admin")
    other_browser.get(f"/admin/surveys/{world.survey_id}")
    other_browser.post(f"/admin/surveys/{world.survey_id}/status", {"status": "closed"})
    browser.login("hosp-a")
    browser.get(f"/surveys/{world.survey_id}/s/governance")
    refused = browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"})
    assert refused.status_code == 409 and "現在回答を受け付けていません" in refused.text


def test_progress_by_band_and_prefecture_with_non_responders(browser, other_browser, world):
    other_browser.login("hosp-b")
    other_browser.get(f"/surveys/{world.survey_id}/s/governance")
    other_browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"})
    browser.login("admin")
    page = browser.get(f"/admin/surveys/{world.survey_id}/progress")
    assert page.status_code == 200
    band_rows = re.findall(
        r"<tr><th scope=\"row\"><a href=\"\?band=([^\"]+)#non-responders\">[^<]+</a></th>"
        r"<td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>"
        r"<td class=\"num\">(\d+)</td>",
        page.text,
    )
    counts = {band: tuple(int(n) for n in rest) for band, *rest in band_rows}
    assert counts["100-199"] == (1, 0, 0, 1)  # Tokyo, 120 beds: not started
    assert counts["500%2B"] == (1, 0, 1, 0)  # Osaka, 550 beds: draft
    assert "東京テスト病院" in page.text and "大阪テスト病院" in page.text
    only_osaka = browser.get(f"/admin/surveys/{world.survey_id}/progress?prefecture=27")
    assert "大阪テスト病院" in only_osaka.text and "東京テスト病院" not in only_osaka.text


def test_responses_list_filters_and_rejects_unknown_filters(browser, other_browser, world):
    other_browser.login("hosp-b")
    other_browser.get(f"/surveys/{world.survey_id}/s/governance")
    other_browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1"], "q2_1": "yes"})
    browser.login("admin")
    drafts = browser.get(f"/admin/surveys/{world.survey_id}/responses?status=draft")
    assert "大阪テスト病院" in drafts.text and "東京テスト病院" not in drafts.text
    by_name = browser.get(f"/admin/surveys/{world.survey_id}/responses?q=東京")
    assert "東京テスト病院" in by_name.text and "大阪テスト病院" not in by_name.text
    assert browser.get(f"/admin/surveys/{world.survey_id}/responses?status=deleted").status_code == 400
    assert browser.get(f"/admin/surveys/{world.survey_id}/responses?band=1-2").status_code == 400


def test_exports_are_downloadable(browser, other_browser, world):
    other_browser.login("hosp-b")
    other_browser.get(f"/surveys/{world.survey_id}/s/governance")
    other_browser.post(f"/surveys/{world.survey_id}/s/governance", {"_shown": ["q2_1", "q3"], "q2_1": "no", "q3": "s2"})
    browser.login("admin")
    csv_response = browser.get(f"/admin/surveys/{world.survey_id}/export.csv")
    assert csv_response.headers["content-disposition"].startswith("attachment;")
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert [(row["institution_code"], row["q2_1"], row["q2_2"], row["q3"]) for row in rows] == [
        ("2711111111", "no", "", "s2")
    ]
    xlsx = browser.get(f"/admin/surveys/{world.survey_id}/export.xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert "data_dictionary" in workbook.sheetnames
    definition = browser.get(f"/admin/surveys/{world.survey_id}/definition.json")
    assert definition.json()["id"] == "cyber-fy2024"
    assert browser.get(f"/admin/surveys/{world.survey_id}/definition.xlsx").status_code == 200
    assert browser.get(f"/admin/surveys/{world.survey_id}/export.pdf").status_code == 404


def test_hospital_import_creates_accounts_that_activate(browser, other_browser, world, session_factory):
    browser.login("admin")
    browser.get("/admin/hospitals/import")
    result = browser.post("/admin/hospitals/import", files={"file": ("hospitals.csv", HOSPITALS_CSV, "text/csv")})
    assert result.status_code == 200
    assert "2 件を新規登録、0 件を更新しました" in result.text
    encoded = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', result.text).group(1)
    accounts = base64.b64decode(encoded).decode("utf-8-sig")
    code = re.search(r"h0111234567,([A-Z0-9-]+)", accounts).group(1)
    with session_factory() as db:
        user = db.scalar(select(User).where(User.login_id == "h0111234567"))
        assert user.password_hash is None and user.activation_code_hash and code not in user.activation_code_hash

    other_browser.get("/activate")
    short = other_browser.post(
        "/activate",
        {"login_id": "h0111234567", "activation_code": code, "password": "short", "password_confirmation": "short"},
    )
    assert short.status_code == 400 and "13 文字以上" in short.text
    new_password = "北の大地で 2025 年の調査"
    done = other_browser.post(
        "/activate",
        {
            "login_id": "h0111234567",
            "activation_code": code.lower(),
            "password": new_password,
            "password_confirmation": new_password,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    reused = other_browser.post(
        "/activate",
        {
            "login_id": "h0111234567",
            "activation_code": code,
            "password": new_password,
            "password_confirmation": new_password,
        },
    )
    assert reused.status_code == 400  # one-time
    assert other_browser.login("h0111234567", new_password).status_code == 200
    home = other_browser.get("/")
    assert "令和6年度" in home.text  # the open survey now targets the imported hospital


def test_hospital_import_with_errors_writes_nothing(browser, world, session_factory):
    browser.login("admin")
    browser.get("/admin/hospitals/import")
    bad = "医療機関コード,医療機関名,都道府県,病床数,開設者区分\n0111234567,北病院,北海道,10,医療法人\n".encode()
    result = browser.post("/admin/hospitals/import", files={"file": ("h.csv", bad, "text/csv")})
    assert result.status_code == 422
    assert "2 行目" in result.text and "病床数" in result.text
    with session_factory() as db:
        assert db.scalar(select(User).where(User.login_id == "h0111234567")) is None


def test_admin_views_any_response(browser, other_browser, world, session_factory: sessionmaker[Session]):
    other_browser.login("hosp-b")
    other_browser.get(f"/surveys/{world.survey_id}/s/respondent")
    other_browser.post(
        f"/surveys/{world.survey_id}/s/respondent",
        {"_shown": ["q1_1", "q1_2"], "q1_1": "<script>alert(1)</script>", "q1_2": "大阪"},
    )
    with session_factory() as db:
        response_id = f.response_id(db, world.hospital_b)
    browser.login("admin")
    page = browser.get(f"/admin/responses/{response_id}")
    assert "大阪テスト病院 の回答" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
