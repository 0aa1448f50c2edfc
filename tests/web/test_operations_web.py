"""Survey operations in the browser: opening notices, reminders, extensions, inquiries, FAQ, mail pages."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select

import factories as f
from datahealth.audit.tables import AuditEvent
from datahealth.auth.tables import Organisation
from datahealth.config import Settings
from datahealth.operations import mailer
from datahealth.operations.tables import DeadlineExtension, OutboxMessage
from datahealth.survey.tables import Survey, SurveyStatus


def _addresses(session_factory, world) -> None:
    with session_factory.begin() as db:
        db.get_one(Organisation, world.hospital_a).email = "it@tokyo-test.example"
        db.get_one(Organisation, world.hospital_b).email = "jimu@osaka-test.example"


def _actions(session_factory) -> list[str]:
    with session_factory() as db:
        return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_opening_a_survey_puts_a_notice_on_each_hospital_home(browser, other_browser, world, session_factory):
    _addresses(session_factory, world)
    with session_factory.begin() as db:
        db.get_one(Survey, world.survey_id).status = SurveyStatus.DRAFT
    browser.login("admin")
    browser.get(f"/admin/surveys/{world.survey_id}")
    browser.post(f"/admin/surveys/{world.survey_id}/status", {"status": "open"})
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    assert "ops.notice.send" in _actions(session_factory)
    page = browser.get(f"/admin/surveys/{world.survey_id}/operations")
    assert "送信待ち 2" in page.text

    other_browser.login("hosp-a")
    home = other_browser.get("/")
    assert "お知らせ" in home.text and "未読 1 件" in home.text
    notice_id = re.search(r'href="/notices/(\d+)"', home.text).group(1)  # type: ignore[union-attr]
    notice = other_browser.get(f"/notices/{notice_id}")
    assert "【調査依頼】令和6年度" in notice.text and "【ご準備いただくもの】" in notice.text
    assert "未読 1 件" not in other_browser.get("/").text
    assert other_browser.get("/notices").status_code == 200


def test_reminder_schedule_and_remind_now(browser, world, session_factory):
    _addresses(session_factory, world)
    browser.login("admin")
    url = f"/admin/surveys/{world.survey_id}/operations"
    browser.get(url)
    bad = browser.post(f"/admin/surveys/{world.survey_id}/reminders/schedule", {"offsets": "7, abc"})
    assert bad.status_code == 400 and "リマインドの設定が不正です（offsets：「abc」）" in bad.text
    saved = browser.post(f"/admin/surveys/{world.survey_id}/reminders/schedule", {"offsets": "14、7, 3, 1"})
    assert 'value="14, 7, 3, 1"' in saved.text and "保存しました" in saved.text
    done = browser.post(
        f"/admin/surveys/{world.survey_id}/reminders/now", {"prefecture": "27", "band": "", "status": ""}
    )
    assert "1 病院にリマインドしました（メール 1 通" in done.text
    again = browser.post(
        f"/admin/surveys/{world.survey_id}/reminders/now", {"prefecture": "", "band": "", "status": ""}
    )
    assert "1 病院にリマインドしました（メール 1 通、送信済みのため除外 1 病院）" in again.text
    mail = browser.get("/admin/mail?status=queued&kind=reminder")
    assert "jimu@osaka-test.example" in mail.text and "it@tokyo-test.example" in mail.text
    assert "osaka" not in browser.get("/admin/mail?q=tokyo").text.split('id="mail-list"')[1]
    assert browser.get("/admin/mail?status=bogus").status_code == 400
    assert _actions(session_factory).count("ops.reminder.send") == 2


def test_extension_for_one_hospital_is_shown_to_it_and_lets_it_answer(
    browser, other_browser, world, session_factory, clock
):
    _addresses(session_factory, world)
    browser.login("admin")
    browser.get(f"/admin/surveys/{world.survey_id}/operations")
    refused = browser.post(
        f"/admin/surveys/{world.survey_id}/extensions",
        {"scope": "chosen", "hospitals": "0000000000", "closes_on": "2025-03-14", "reason": ""},
    )
    assert refused.status_code == 400 and "0000000000" in refused.text
    done = browser.post(
        f"/admin/surveys/{world.survey_id}/extensions",
        {"scope": "chosen", "hospitals": "2711111111", "closes_on": "2025-03-14", "reason": "停電のため"},
    )
    assert "回答期限を延長し" in done.text and "2711111111 大阪テスト病院" in done.text
    assert "ops.deadline.extend" in _actions(session_factory)
    with session_factory() as db:
        assert db.scalar(select(DeadlineExtension.organisation_id)) == world.hospital_b

    clock.moment = f.at(2025, 3, 10)  # after the survey's own deadline
    other_browser.login("hosp-b")
    home = other_browser.get("/")
    assert "2025-03-14" in home.text and "（延長）" in home.text and "【回答期限の延長】" in home.text
    section = other_browser.get(f"/surveys/{world.survey_id}/s/respondent")
    assert 'name="action" value="save"' in section.text  # still editable
    browser.post("/logout")
    browser.login("hosp-a")
    assert "（延長）" not in browser.get("/").text
    assert 'name="action" value="save"' not in browser.get(f"/surveys/{world.survey_id}/s/respondent").text


def test_inquiry_answered_and_published_as_anonymous_faq(browser, other_browser, world, session_factory):
    _addresses(session_factory, world)
    other_browser.login("hosp-a")
    section = other_browser.get(f"/surveys/{world.survey_id}/s/respondent")
    assert "この設問について問い合わせる" in section.text
    form = other_browser.get(f"/surveys/{world.survey_id}/inquiries/new?question=q1_1")
    assert 'value="q1_1" selected' in form.text
    empty = other_browser.post(
        f"/surveys/{world.survey_id}/inquiries", {"question": "q1_1", "category": "content", "body": ""}
    )
    assert empty.status_code == 400 and "入力が必要です" in empty.text
    sent = other_browser.post(
        f"/surveys/{world.survey_id}/inquiries",
        {"question": "q1_1", "category": "content", "body": "東京テスト病院の回答者は院長でよいですか。"},
    )
    assert "お問い合わせを受け付けました" in sent.text and "回答待ち" in sent.text
    inquiry_id = int(sent.url.path.rsplit("/", 1)[1])

    browser.login("admin")
    listing = browser.get("/admin/inquiries?category=content&status=open")
    assert "東京テスト病院の回答者は院長でよいですか" in listing.text
    assert "東京テスト病院" not in browser.get("/admin/inquiries?category=operation").text.split("<table")[-1]
    page = browser.get(f"/admin/inquiries/{inquiry_id}")
    assert "大阪" not in page.text and "1311111111 東京テスト病院" in page.text
    answered = browser.post(f"/admin/inquiries/{inquiry_id}/answer", {"answer": "実際に回答を入力した方の氏名です。"})
    assert "病院に通知しました" in answered.text
    assert "（病院名）の回答者は院長でよいですか。" in answered.text  # the proposed FAQ text is anonymised
    published = browser.post(
        f"/admin/inquiries/{inquiry_id}/publish",
        {
            "question_text": "（病院名）の回答者は院長でよいですか。",
            "answer_text": "実際に回答を入力した方の氏名です。",
        },
    )
    assert "FAQ として公開しました" in published.text
    assert {"ops.inquiry.create", "ops.inquiry.answer", "ops.faq.publish"} <= set(_actions(session_factory))

    mine = other_browser.get(f"/inquiries/{inquiry_id}")
    assert "回答済み" in mine.text and "実際に回答を入力した方の氏名です。" in mine.text
    assert "【お問い合わせへの回答】" in other_browser.get("/").text
    faq = other_browser.get(f"/surveys/{world.survey_id}/faq").text.split("<main", 1)[1]  # after the header
    assert "（病院名）の回答者は院長でよいですか。" in faq and "東京テスト病院" not in faq
    assert "実際に回答を入力した方の氏名です。" in faq and "G-MIS" in faq
    with session_factory() as db:
        assert db.scalar(select(OutboxMessage.to_address).where(OutboxMessage.kind == "inquiry_answer")) == (
            "it@tokyo-test.example"
        )


def test_pages_are_private(browser, other_browser, world, session_factory):
    other_browser.login("hosp-a")
    sent = other_browser.post(
        f"/surveys/{world.survey_id}/inquiries", {"question": "", "category": "operation", "body": "ログインについて"}
    )
    inquiry_id = int(sent.url.path.rsplit("/", 1)[1])
    browser.login("hosp-b")
    assert browser.get(f"/inquiries/{inquiry_id}").status_code == 404
    for url in (
        "/admin/inquiries",
        f"/admin/inquiries/{inquiry_id}",
        "/admin/mail",
        "/admin/mail/sink",
        f"/admin/surveys/{world.survey_id}/operations",
    ):
        assert browser.get(url).status_code == 404, url


def test_mail_sink_page_shows_received_mail(browser, world, settings: Settings, clock):
    sink = settings.data_dir / "mail-sink"
    sink.mkdir()
    message = mailer.build_message(settings, "it@tokyo-test.example", "【リマインド】テスト", "本文です。\n", clock())
    (sink / "0000001-test.eml").write_bytes(message.as_bytes())
    browser.login("admin")
    page = browser.get("/admin/mail/sink")
    assert "【リマインド】テスト" in page.text and "本文です。" in page.text and "it@tokyo-test.example" in page.text
    assert date.today()  # the page needs no database rows
