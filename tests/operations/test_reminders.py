"""Scheduled reminders with a controllable clock, and "remind now", against a real SMTP server."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from helpers import ADDRESS_A, ADDRESS_B, mark_submitted, world_with_addresses
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

import factories as f
from datahealth.audit.tables import AuditEvent
from datahealth.errors import Conflict, UserError
from datahealth.operations import extensions, reminders, worker
from datahealth.operations.tables import Notice, OutboxMessage, ReminderSent
from datahealth.survey.tables import Survey, SurveyStatus


def _schedule(factory, survey_id: int, days=(14, 7, 3, 1)) -> None:
    with factory.begin() as db:
        reminders.set_offsets(db, db.get_one(Survey, survey_id), days)


def _run(factory, settings, clock):
    return worker.run_once(factory, settings, clock)


def test_parse_offsets_accepts_japanese_input_and_rejects_nonsense():
    assert reminders.parse_offsets("１４、7, 3 1") == [14, 7, 3, 1]
    with pytest.raises(UserError) as caught:
        reminders.parse_offsets("7, -1")
    assert caught.value.code == "DH-O105"
    with pytest.raises(UserError):
        reminders.parse_offsets("61")


def test_due_offset_picks_the_latest_reminder_that_is_due():
    schedule = [14, 7, 3, 1]
    deadline = date(2025, 3, 7)
    assert reminders.due_offset(schedule, date(2025, 2, 20), deadline) is None  # 15 days left
    assert reminders.due_offset(schedule, date(2025, 2, 21), deadline) == 14
    assert reminders.due_offset(schedule, date(2025, 3, 1), deadline) == 7  # 6 days left
    assert reminders.due_offset(schedule, date(2025, 3, 7), deadline) == 1  # the last day
    assert reminders.due_offset(schedule, date(2025, 3, 8), deadline) is None


def test_schedule_reminds_non_submitters_once_each(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    _schedule(session_factory, world.survey_id)
    clock.moment = f.at(2025, 2, 20)  # 15 days before 7 March: nothing yet
    assert _run(session_factory, mail_settings, clock).reminded == 0
    assert smtp.mails == []

    clock.moment = f.at(2025, 2, 21)  # 14 days before
    report = _run(session_factory, mail_settings, clock)
    assert report.reminded == 2 and report.delivery.sent == 2
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == [ADDRESS_A, ADDRESS_B]
    mail = next(m for m in smtp.mails if m.rcpt_tos == [ADDRESS_A])
    assert mail.subject.startswith("【リマインド】令和6年度 病院における医療情報システムのサイバーセキュリティ対策")
    assert "回答期限まであと 14 日です" in mail.body
    assert "東京テスト病院 ご担当者様" in mail.body
    assert "まだ回答が始まっていません" in mail.body

    clock.moment = f.at(2025, 2, 21, hour=8)  # the same day, a later round: nothing new
    assert _run(session_factory, mail_settings, clock).reminded == 0
    assert len(smtp.mails) == 2

    with session_factory.begin() as db:
        mark_submitted(db, world.survey_id, world.hospital_a)
    clock.moment = f.at(2025, 2, 28)  # 7 days before: only the hospital that has not submitted
    report = _run(session_factory, mail_settings, clock)
    assert report.reminded == 1
    assert [m.rcpt_tos for m in smtp.mails[2:]] == [[ADDRESS_B]]
    with session_factory() as db:
        keys = sorted(
            db.scalars(select(ReminderSent.reminder_key).where(ReminderSent.organisation_id == world.hospital_b))
        )
        assert keys == ["d14:2025-03-07", "d7:2025-03-07"]
        carried = db.scalars(select(ReminderSent.outbox_id)).all()
        assert len(carried) == 3 and None not in carried  # each reminder knows the e-mail that carried it
        notices = db.scalar(select(func.count()).select_from(Notice).where(Notice.kind == "reminder"))
        assert notices == 3
        audited = db.scalars(select(AuditEvent).where(AuditEvent.action == "ops.reminder.send")).all()
        assert [e.detail["reminded"] for e in audited] == [2, 1]
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "ops.mail.deliver"))


def test_a_stopped_worker_sends_only_the_latest_missed_reminder(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    _schedule(session_factory, world.survey_id)
    clock.moment = f.at(2025, 3, 5)  # 2 days left: the 14- and 7-day reminders were missed
    assert _run(session_factory, mail_settings, clock).reminded == 2
    assert all("あと 2 日" in m.body for m in smtp.mails)
    with session_factory() as db:
        assert set(db.scalars(select(ReminderSent.reminder_key))) == {"d3:2025-03-07"}


def test_extended_hospitals_are_reminded_against_their_own_deadline(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    _schedule(session_factory, world.survey_id, days=(1,))
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        extensions.extend(
            db, survey, date(2025, 3, 14), organisation_ids=[world.hospital_b], reason="", user_id=None, now=clock()
        )
    clock.moment = f.at(2025, 3, 6)
    _run(session_factory, mail_settings, clock)
    assert [m.rcpt_tos for m in smtp.mails] == [[ADDRESS_A]]
    clock.moment = f.at(2025, 3, 13)
    _run(session_factory, mail_settings, clock)
    assert [m.rcpt_tos for m in smtp.mails] == [[ADDRESS_A], [ADDRESS_B]]
    assert "2025年3月14日（金）" in smtp.mails[1].subject


def test_the_database_refuses_a_second_copy_of_a_reminder(session_factory, clock):
    world = world_with_addresses(session_factory)
    row = {"survey_id": world.survey_id, "organisation_id": world.hospital_a, "reminder_key": "d7:2025-03-07"}
    with session_factory.begin() as db:
        db.add(ReminderSent(**row, created_at=clock()))
    with pytest.raises(IntegrityError), session_factory.begin() as db:
        db.add(ReminderSent(**row, created_at=clock()))
        db.flush()


def test_remind_now_filters_and_never_doubles_a_day(session_factory, mail_settings, smtp, clock):
    world = world_with_addresses(session_factory)
    base = mail_settings.public_url()
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        run = reminders.remind_now(db, survey, base, clock(), prefecture=27)  # Osaka only
        assert (run.reminded, run.emails) == (1, 1)
        again = reminders.remind_now(db, survey, base, clock())  # everyone: Osaka already had today's
        assert (again.reminded, again.already) == (1, 1)
        assert reminders.remind_now(db, survey, base, clock(), band="500+").reminded == 0
        with pytest.raises(UserError):
            reminders.remind_now(db, survey, base, clock(), band="huge")
    worker.deliver(session_factory, mail_settings, clock)
    assert sorted(m.rcpt_tos[0] for m in smtp.mails) == [ADDRESS_A, ADDRESS_B]
    with session_factory.begin() as db:
        survey = db.get_one(Survey, world.survey_id)
        survey.status = SurveyStatus.CLOSED
        with pytest.raises(Conflict) as caught:
            reminders.remind_now(db, survey, base, clock())
        assert caught.value.code == "DH-O109"


def test_concurrent_workers_give_each_reminder_once(session_factory, mail_settings, clock):
    world = world_with_addresses(session_factory)
    _schedule(session_factory, world.survey_id)
    clock.moment = f.at(2025, 3, 6)
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            worker.run_reminders(session_factory, mail_settings, clock)
        except OperationalError as exc:  # SQLite: a writer that lost the race gives up this round
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(failures) < 3
    worker.run_reminders(session_factory, mail_settings, clock)  # a later round finds nothing new
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ReminderSent)) == 2
        assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        assert db.scalar(select(func.count()).select_from(Notice).where(Notice.kind == "reminder")) == 2
