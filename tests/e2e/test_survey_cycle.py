"""The whole FY2024 survey cycle in real headless Chromium.

Hospital A takes the "yes" side of every condition (after trying the other side first), reloads
half-way and finds every answer, and submits. Hospital B takes the "no" side, meets the error summary
on an early submit, and submits. The administrator downloads the CSV export, which must hold exactly
the relevant answers of each hospital.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

import factories as f

pytestmark = pytest.mark.e2e


def _is_save(response: object) -> bool:
    request = response.request  # type: ignore[attr-defined]
    return request.method == "POST" and "/s/" in response.url and request.headers.get("hx-request") == "true"  # type: ignore[attr-defined]


def settle(page: Page) -> None:
    """Wait until no autosave is in flight (HTMX marks the form while a request runs)."""
    page.wait_for_timeout(100)
    # Locator polling, not wait_for_function: the page's CSP forbids eval, which that would need.
    expect(page.locator(".htmx-request")).to_have_count(0)


def choose(page: Page, name: str, value: str) -> None:
    with page.expect_response(_is_save):
        page.check(f"input[name='{name}'][value='{value}']")
    settle(page)


def untick(page: Page, name: str, value: str) -> None:
    with page.expect_response(_is_save):
        page.uncheck(f"input[name='{name}'][value='{value}']")
    settle(page)


def type_into(page: Page, name: str, text: str) -> None:
    with page.expect_response(_is_save):
        page.fill(f"#q-{name}", text)
        page.press(f"#q-{name}", "Tab")
    settle(page)


def shown(page: Page, name: str) -> bool:
    return page.locator(f"#q-{name}").count() == 1


def next_section(page: Page) -> None:
    page.get_by_role("button", name="保存して次へ").click()
    page.wait_for_load_state("domcontentloaded")


def login(page: Page, base: str, login_id: str, moment: datetime | None = None) -> None:
    """Log in as a person would: password, then (administrators) the code from the authenticator app."""
    page.goto(f"{base}/login")
    page.get_by_label("ログインID").fill(login_id)
    page.get_by_label("パスワード").fill(f.PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base}/**")
    if "/login/2fa" in page.url:
        assert moment is not None, "the live server's clock is needed for the code"
        page.get_by_label("確認コード").fill(pyotp.TOTP(f.TOTP_SECRET).at(moment))
        page.get_by_role("button", name="確認").click()
        page.wait_for_url(f"{base}/**")


def answer_as_hospital_a(page: Page, base: str) -> str:
    login(page, base, "hosp-a")
    page.get_by_role("link", name="回答を始める").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("回答者情報")
    type_into(page, "q1_1", "山田 太郎")
    type_into(page, "q1_2", "医療法人テスト会 東京テスト病院")
    next_section(page)

    # governance: try the "no" side, then take "yes" all the way down
    assert not shown(page, "q2_2")
    choose(page, "q2_1", "no")
    assert not shown(page, "q2_2")
    choose(page, "q2_1", "yes")
    assert shown(page, "q2_2") and not shown(page, "q2_3")
    choose(page, "q2_2", "no")
    assert not shown(page, "q2_3")
    choose(page, "q2_2", "yes")
    assert shown(page, "q2_3")
    choose(page, "q2_3", "riss_exam")
    choose(page, "q2_3", "it_passport")
    assert not shown(page, "q2_3_other")
    choose(page, "q2_3", "other")
    assert shown(page, "q2_3_other")
    type_into(page, "q2_3_other", "医療情報技師")
    untick(page, "q2_3", "it_passport")
    # keyboard only: Q3 with the arrow keys
    page.focus("input[name='q3'][value='s0']")
    page.keyboard.press("Space")
    settle(page)
    for _ in range(3):
        with page.expect_response(_is_save):
            page.keyboard.press("ArrowDown")
        settle(page)
    expect(page.locator("input[name='q3'][value='s3_4']")).to_be_checked()
    choose(page, "q4", "yes")
    choose(page, "q5", "yes")
    choose(page, "q6", "no")

    # a reload half-way loses nothing
    page.reload()
    for name, value in [
        ("q2_1", "yes"),
        ("q2_2", "yes"),
        ("q2_3", "riss_exam"),
        ("q2_3", "other"),
        ("q3", "s3_4"),
        ("q4", "yes"),
        ("q5", "yes"),
        ("q6", "no"),
    ]:
        expect(page.locator(f"input[name='{name}'][value='{value}']")).to_be_checked()
    expect(page.locator("input[name='q2_3'][value='it_passport']")).not_to_be_checked()
    expect(page.locator("#q-q2_3_other")).to_have_value("医療情報技師")
    guidance = page.locator("#q-wrap-q2_1 details.guidance")
    guidance.locator("summary").click()
    expect(guidance).to_contain_text("経営管理編 3.1.2")
    next_section(page)

    choose(page, "q7_1", "yes")
    assert shown(page, "q7_2")
    choose(page, "q7_2", "no")
    next_section(page)
    choose(page, "q8", "yes")
    choose(page, "q9", "yes")
    next_section(page)
    choose(page, "q10", "yes")
    choose(page, "q11", "no")
    choose(page, "q12", "yes")
    next_section(page)
    type_into(page, "q13", "１３")
    expect(page.locator("#err-q13")).to_contain_text("全角数字は使えません")
    type_into(page, "q13", "13")
    expect(page.locator("#err-q13")).to_be_empty()
    choose(page, "q14", "no")
    choose(page, "q15", "yes")
    next_section(page)
    choose(page, "q16", "yes")
    next_section(page)
    choose(page, "q17_1", "yes")
    choose(page, "q17_2", "yes")
    for name, value in [("q17_3", "c3"), ("q17_4", "m2"), ("q17_5", "g4_6"), ("q17_6", "yes")]:
        choose(page, name, value)
    page.get_by_role("button", name="保存して確認画面へ").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("回答内容の確認")
    expect(page.locator("#answer-q2_3 dd")).to_have_text("情報処理安全確保支援士試験、その他（民間資格等）")
    page.get_by_role("button", name="この内容で提出する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("受付票")
    receipt = page.locator("#receipt-code").inner_text().strip()
    assert receipt.startswith("CYBER-FY2024-")
    return receipt


def answer_as_hospital_b(page: Page, base: str) -> None:
    login(page, base, "hosp-b")
    page.get_by_role("link", name="回答を始める").click()
    type_into(page, "q1_1", "佐藤 花子")
    type_into(page, "q1_2", "大阪テスト病院")
    next_section(page)
    choose(page, "q2_1", "yes")
    choose(page, "q2_2", "yes")
    choose(page, "q2_3", "it_passport")
    choose(page, "q2_2", "no")  # Q2-3 disappears, and its answer with it
    assert not shown(page, "q2_3")
    choose(page, "q3", "s0")
    for name in ("q4", "q5", "q6"):
        choose(page, name, "no")

    # an early submit: the error summary is announced and names what is missing
    page.goto(page.url.rsplit("/s/", 1)[0] + "/review")
    page.get_by_role("button", name="この内容で提出する").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Q7-1：回答が必要です")
    expect(alert).not_to_contain_text("Q2-3")
    alert.get_by_role("link", name="Q7-1：回答が必要です。選択または入力してください。").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("事業継続計画（BCP）")

    choose(page, "q7_1", "no")
    assert not shown(page, "q7_2")
    next_section(page)
    choose(page, "q8", "no")
    choose(page, "q9", "no")
    next_section(page)
    for name in ("q10", "q11", "q12"):
        choose(page, name, "no")
    next_section(page)
    type_into(page, "q13", "8")
    choose(page, "q14", "no")
    choose(page, "q15", "no")
    next_section(page)
    choose(page, "q16", "no")
    next_section(page)
    choose(page, "q17_1", "yes")
    choose(page, "q17_2", "yes")
    choose(page, "q17_3", "c1")
    choose(page, "q17_2", "no")
    assert not shown(page, "q17_3")
    page.get_by_role("button", name="保存して確認画面へ").click()
    page.get_by_role("button", name="この内容で提出する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("受付票")


EXPECTED_A = {
    "q1_1": "山田 太郎",
    "q1_2": "医療法人テスト会 東京テスト病院",
    "q2_1": "yes",
    "q2_2": "yes",
    "q2_3/riss_exam": "1",
    "q2_3/it_passport": "0",
    "q2_3/other": "1",
    "q2_3/it_strategist": "0",
    "q2_3_other": "医療情報技師",
    "q3": "s3_4",
    "q4": "yes",
    "q5": "yes",
    "q6": "no",
    "q7_1": "yes",
    "q7_2": "no",
    "q8": "yes",
    "q9": "yes",
    "q10": "yes",
    "q11": "no",
    "q12": "yes",
    "q13": "13",
    "q14": "no",
    "q15": "yes",
    "q16": "yes",
    "q17_1": "yes",
    "q17_2": "yes",
    "q17_3": "c3",
    "q17_4": "m2",
    "q17_5": "g4_6",
    "q17_6": "yes",
}
EXPECTED_B = {
    "q1_1": "佐藤 花子",
    "q1_2": "大阪テスト病院",
    "q2_1": "yes",
    "q2_2": "no",
    "q2_3/riss_exam": "",
    "q2_3/it_passport": "",
    "q2_3/other": "",
    "q2_3_other": "",
    "q3": "s0",
    "q4": "no",
    "q5": "no",
    "q6": "no",
    "q7_1": "no",
    "q7_2": "",
    "q8": "no",
    "q9": "no",
    "q10": "no",
    "q11": "no",
    "q12": "no",
    "q13": "8",
    "q14": "no",
    "q15": "no",
    "q16": "no",
    "q17_1": "yes",
    "q17_2": "no",
    "q17_3": "",
    "q17_4": "",
    "q17_5": "",
    "q17_6": "",
}


def test_fy2024_cycle_in_the_browser(chromium: Browser, live_server, world) -> None:
    base = live_server.url
    context_a = chromium.new_context(locale="ja-JP", accept_downloads=True)
    receipt = answer_as_hospital_a(context_a.new_page(), base)
    context_a.close()
    context_b = chromium.new_context(locale="ja-JP")
    answer_as_hospital_b(context_b.new_page(), base)
    context_b.close()

    admin = chromium.new_context(locale="ja-JP", accept_downloads=True)
    page = admin.new_page()
    login(page, base, "admin", live_server.moment)
    page.goto(f"{base}/admin/surveys/{world.survey_id}/progress")
    expect(page.get_by_role("table").first).to_contain_text("100～199床")
    page.goto(f"{base}/admin/surveys/{world.survey_id}")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV（UTF-8 BOM付き）").click()
    data = download_info.value.path().read_bytes()
    admin.close()

    assert data.startswith(b"\xef\xbb\xbf")
    rows = {row["institution_code"]: row for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert set(rows) == {"1311111111", "2711111111"}
    a, b = rows["1311111111"], rows["2711111111"]
    assert a["status"] == "submitted" and a["receipt_code"] == receipt
    assert b["status"] == "submitted"
    assert {key: a[key] for key in EXPECTED_A} == EXPECTED_A
    assert {key: b[key] for key in EXPECTED_B} == EXPECTED_B
    # every 0/1 column of a hidden multiple choice is empty, never 0
    assert all(value == "" for key, value in b.items() if key.startswith("q2_3/"))


def test_answers_typed_while_offline_are_saved_when_the_network_returns(chromium: Browser, live_server, world) -> None:
    context = chromium.new_context(locale="ja-JP")
    page = context.new_page()
    login(page, live_server.url, "hosp-a")
    page.goto(f"{live_server.url}/surveys/{world.survey_id}/s/governance")
    context.set_offline(True)
    page.check("input[name='q2_1'][value='yes']")
    expect(page.locator("#form-status")).to_contain_text("保存できませんでした")
    context.set_offline(False)
    expect(page.locator("#form-status")).to_contain_text("保存しました", timeout=15_000)
    page.reload()
    expect(page.locator("input[name='q2_1'][value='yes']")).to_be_checked()
    expect(page.locator("#q-q2_2")).to_be_visible()
    context.close()
