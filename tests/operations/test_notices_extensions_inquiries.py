"""Opening notices, deadline extensions (respected by save and submit), inquiries and the FAQ."""

from __future__ import annotations

from datetime import date

import pytest
from helpers import ADDRESS_A, ADDRESS_B, principal_of, world_with_addresses
from sqlalchemy import func, select

import factories as f
from datahealth.auth.tables import Organisation
from datahealth.errors import Conflict, UserError
from datahealth.operations import extensions, inquiries, notices, worker
from datahealth.operations.tables import FaqEntry, Notice, OutboxMessage
from datahealth.survey import service
from datahealth.survey.definitions import load_bundled
from datahealth.survey.model import SurveyDefinition
from datahealth.survey.tables import Survey, SurveyStatus

BASE = "http://127.0.0.1:8000"


def _draft_survey(factory) -> int:
    data = load_bundled("cyber-fy2024").model_dump(mode="json", exclude_none=True)
    data["id"], data["version"] = "cyber-fy2025", "2025.1"
    data["title"] = {"ja": "令和7年度 試験調査", "en": "FY2025 trial survey"}
    with factory.begin() as db:
        survey = service.create_survey(db, SurveyDefinition.model_validate(data), date(2026, 1, 26), date(2026, 3, 6))
        return survey.id


def test_opening_a_survey_notifies_every_target_once(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    survey_id = _draft_survey(session_factory)
    with session_factory.begin() as db:
        extra = f.make_org(db, code="0111111111", name="北海道テスト病院", prefecture_code=1)  # no address
        survey = db.get_one(Survey, survey_id)
        service.set_status(db, survey, SurveyStatus.OPEN)
        told = notices.announce_open(db, survey, BASE, clock())
        assert (told.notices, told.emails, told.without_address) == (3, 2, 1)
        again = notices.announce_open(db, survey, BASE, clock())  # closed and reopened: nobody told twice
        assert (again.notices, again.emails) == (0, 0)
        late = f.make_org(db, code="4711111111", name="沖縄テスト病院", prefecture_code=47)
        late.email = "okinawa@hospital.example"
        service.target_hospitals_of_active_surveys(db)  # a hospital imported while the survey is open
        joined = notices.announce_open(db, survey, BASE, clock())
        assert (joined.notices, joined.emails) == (1, 1)
    worker.deliver(session_factory, mail_settings, clock)
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == sorted([ADDRESS_A, ADDRESS_B, "okinawa@hospital.example"])
    mail = next(m for m in smtp.mails if m.rcpt_tos == [ADDRESS_B])
    assert mail.subject == "【調査依頼】令和7年度 試験調査（回答期限：2026年3月6日（金））"
    body = mail.body
    assert "大阪テスト病院 ご担当者様" in body
    assert "【調査期間】2026年1月26日（月）～2026年3月6日（金）" in body
    assert f"ログイン：{BASE}/login" in body
    assert "医療情報システムの安全管理に関するガイドライン（第6.0版）" in body
    assert "厚生労働省 G-MIS 事務局" in body and "TEL：050-3355-8230" in body
    assert "TEL：03-6812-7837" in body and f"{BASE}/surveys/{survey_id}/faq" in body
    with session_factory() as db:
        board = notices.board(db, extra.id)
        assert [n.kind for n in board] == ["survey_open"] and board[0].read_at is None
        assert notices.unread_count(db, world.hospital_a) == 1


def test_notice_board_marks_read_and_hides_other_hospitals(session_factory, clock):
    world = world_with_addresses(session_factory)
    with session_factory.begin() as db:
        notices.announce_open(db, db.get_one(Survey, world.survey_id), BASE, clock())
    with session_factory.begin() as db:
        [mine] = notices.board(db, world.hospital_a)
        with pytest.raises(Exception) as caught:
            notices.open_notice(db, world.hospital_b, mine.id, clock())
        assert type(caught.value).__name__ == "NotFound"
        notices.open_notice(db, world.hospital_a, mine.id, clock())
    with session_factory() as db:
        assert notices.unread_count(db, world.hospital_a) == 0
        assert notices.unread_count(db, world.hospital_b) == 1


def test_extension_lets_only_that_hospital_save_and_submit_after_the_deadline(session_factory, clock):
    world = world_with_addresses(session_factory)
    after = f.at(2025, 3, 10)  # the survey closed on 7 March
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        extensions.extend(
            db,
            survey,
            date(2025, 3, 14),
            organisation_ids=[world.hospital_b],
            reason="システム障害",
            user_id=None,
            now=clock(),
        )
        assert extensions.effective_closes_on(db, survey, world.hospital_b) == date(2025, 3, 14)
        assert extensions.effective_closes_on(db, survey, world.hospital_a) == date(2025, 3, 7)
        with pytest.raises(UserError) as caught:
            extensions.extend(db, survey, date(2025, 3, 7), organisation_ids=None, reason="", user_id=None, now=clock())
        assert caught.value.code == "DH-O104"
        with pytest.raises(UserError) as caught:
            extensions.resolve_hospitals(db, survey, ["9999999999"])
        assert caught.value.code == "DH-O106"
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        b = principal_of(db, "hosp-b")
        response_b = service.own_response(db, b, survey)
        service.save_draft(
            db, b, survey, response_b, f.complete_answers("大阪テスト病院"), list(f.complete_answers()), after
        )
        assert service.submit(db, b, survey, response_b, after)
        a = principal_of(db, "hosp-a")
        response_a = service.own_response(db, a, survey)
        with pytest.raises(Conflict) as closed:
            service.save_draft(db, a, survey, response_a, {"q1_1": "山田"}, ["q1_1"], after)
        assert closed.value.code == "DH-S201"
        assert service.hospital_phase(db, survey, world.hospital_a, after).editable is False
    with session_factory.begin() as db:  # an extension for everyone reopens the others too
        survey = db.get_one(Survey, world.survey_id)
        extensions.extend(db, survey, date(2025, 3, 12), organisation_ids=None, reason="", user_id=None, now=clock())
        assert service.hospital_phase(db, survey, world.hospital_a, after).submittable is True
        assert extensions.effective_closes_on(db, survey, world.hospital_b) == date(2025, 3, 14)
        told = notices.announce_extension(db, survey, date(2025, 3, 12), None, "", BASE, clock())
        assert (told.notices, told.emails) == (2, 2)


def test_inquiry_answer_and_anonymised_faq(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    desks = {"operation": "gmis-desk@example.invalid", "content": ""}
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        a = principal_of(db, "hosp-a")
        for bad, code in (
            ({"category": "other"}, "DH-O102"),
            ({"question_name": "q99"}, "DH-O103"),
            ({"body": "  "}, "DH-O101"),
        ):
            args = {"question_name": "q13", "category": "content", "body": "質問", **bad}
            with pytest.raises(UserError) as caught:
                inquiries.create(db, a, survey, base_url=BASE, desk_addresses=desks, now=clock(), **args)
            assert caught.value.code == code
        operation = inquiries.create(
            db,
            a,
            survey,
            question_name="",
            category="operation",
            body="ログインできません。",
            base_url=BASE,
            desk_addresses=desks,
            now=clock(),
        )
        content = inquiries.create(
            db,
            a,
            survey,
            question_name="q13",
            category="content",
            body="東京テスト病院（1311111111）です。パスワード規程が部門で異なる場合の桁数は？",
            base_url=BASE,
            desk_addresses=desks,
            now=clock(),
        )
        admin = principal_of(db, "admin")
        with pytest.raises(Conflict) as caught:
            inquiries.publish(db, admin, content, question_text="x", answer_text="y", now=clock())
        assert caught.value.code == "DH-O107"
        inquiries.answer(db, admin, content, "最も短い桁数を回答してください。", base_url=BASE, now=clock())
        question = inquiries.anonymise(db, content)
        assert "東京テスト病院" not in question and "1311111111" not in question
        assert question.startswith("（病院名）（（病院名））です。")
        entry = inquiries.publish(
            db, admin, content, question_text=question + " 東京テスト病院", answer_text=content.answer, now=clock()
        )
        assert "東京テスト病院" not in entry.question_text  # anonymised again, whatever was typed
        with pytest.raises(Conflict) as caught:
            inquiries.publish(db, admin, content, question_text="x", answer_text="y", now=clock())
        assert caught.value.code == "DH-O108"
        assert [i.id for i, _, _ in inquiries.listing(db, category="operation")] == [operation.id]
        assert inquiries.open_counts(db) == {"operation": 1, "content": 0}
    worker.deliver(session_factory, mail_settings, clock)
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp.mails}
    assert set(by_rcpt) == {"gmis-desk@example.invalid", ADDRESS_A}
    assert by_rcpt["gmis-desk@example.invalid"].subject.startswith("【新しいお問い合わせ・操作・ログイン】")
    answer_mail = by_rcpt[ADDRESS_A]
    assert answer_mail.subject.startswith("【お問い合わせへの回答】")
    assert "Q13" in answer_mail.body and f"{BASE}/inquiries/{content.id}" in answer_mail.body
    assert "最も短い桁数" not in answer_mail.body  # the answer itself is read after logging in
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Notice).where(Notice.kind == "inquiry_answer")) == 1
        assert db.scalar(select(func.count()).select_from(FaqEntry)) == 1
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        assert db.get_one(Organisation, world.hospital_a).email == ADDRESS_A
