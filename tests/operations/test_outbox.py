"""The outbox against a real SMTP server on 127.0.0.1: encoding, recipients, retries, outages, races."""

from __future__ import annotations

import threading
from datetime import timedelta

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from ops_smtp import Recorder, free_port
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from datahealth.config import Settings
from datahealth.operations import outbox, worker
from datahealth.operations.tables import MailStatus, OutboxMessage

SUBJECT = (
    "【調査依頼】令和6年度 病院における医療情報システムのサイバーセキュリティ対策に係る調査"
    "（回答期限：2025年3月7日（金））"
)
BODY = "東京テスト病院 ご担当者様\n\n調査期間：令和7年1月27日（月）～3月7日（金）\n照会先：厚生労働省 G-MIS 事務局\n"


def _queue(factory: sessionmaker[Session], clock, to: str = "it@tokyo-hospital.example", n: int = 1) -> list[int]:
    with factory.begin() as db:
        messages = [
            outbox.enqueue(db, kind="notice", to_address=to, subject=SUBJECT, body=f"{BODY}{i}", now=clock())
            for i in range(n)
        ]
        db.flush()
        return [m.id for m in messages]


def _statuses(factory: sessionmaker[Session]) -> list[str]:
    with factory() as db:
        return list(db.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def test_japanese_subject_and_body_arrive_intact(session_factory, mail_settings, smtp, clock):
    _queue(session_factory, clock)
    report = outbox.deliver_due(session_factory, mail_settings, clock)
    assert (report.sent, report.deferred, report.failed) == (1, 0, 0)
    [mail] = smtp.mails
    assert mail.rcpt_tos == ["it@tokyo-hospital.example"]
    assert mail.mail_from == "chousa@example.invalid"
    raw_subject = next(line for line in mail.raw.decode("ascii").splitlines() if line.startswith("Subject:"))
    assert "=?utf-8?" in raw_subject.lower()  # RFC 2047 encoded-word, 7-bit clean on the wire
    assert mail.subject == SUBJECT
    assert mail.body == BODY + "0\n"
    assert mail.message.get_content_charset() == "utf-8"
    with session_factory() as db:
        row = db.scalars(select(OutboxMessage)).one()
        assert (row.status, row.attempts, row.sent_at) == (MailStatus.SENT, 1, clock())


def test_outage_delays_mail_and_loses_none(session_factory, mail_settings, smtp, clock):
    smtp.stop()  # the SMTP server is down
    _queue(session_factory, clock, n=3)
    report = outbox.deliver_due(session_factory, mail_settings, clock)
    assert (report.sent, report.deferred) == (0, 3)
    assert "connect" in report.error
    assert _statuses(session_factory) == ["queued"] * 3
    with session_factory() as db:
        first = db.scalars(select(OutboxMessage)).first()
        assert first is not None
        assert first.next_attempt_at == clock() + timedelta(seconds=mail_settings.mail_retry_base_seconds)
    # still down a minute later: the second attempt waits twice as long
    clock.moment += timedelta(seconds=60)
    assert outbox.deliver_due(session_factory, mail_settings, clock).deferred == 3
    smtp.start()
    clock.moment += timedelta(seconds=60)  # not due yet (backoff is 120 s now)
    assert outbox.deliver_due(session_factory, mail_settings, clock).claimed == 0
    clock.moment += timedelta(seconds=61)
    assert outbox.deliver_due(session_factory, mail_settings, clock).sent == 3
    assert outbox.deliver_due(session_factory, mail_settings, clock).claimed == 0
    assert sorted(m.body for m in smtp.mails) == [f"{BODY}{i}\n" for i in range(3)]  # each exactly once
    assert _statuses(session_factory) == ["sent"] * 3


def test_backoff_doubles_and_is_capped(settings: Settings):
    delays = [outbox.backoff(settings, n).total_seconds() for n in range(1, 10)]
    assert delays[:4] == [60, 120, 240, 480]
    assert max(delays) == settings.mail_retry_max_seconds


def test_permanent_refusal_fails_that_mail_only_and_can_be_retried(session_factory, mail_settings, smtp, clock):
    smtp.recorder.refuse.add("nobody@hospital.example")
    [bad] = _queue(session_factory, clock, to="nobody@hospital.example")
    _queue(session_factory, clock, to="ok@hospital.example")
    report = outbox.deliver_due(session_factory, mail_settings, clock)
    assert (report.sent, report.failed) == (1, 1)
    assert [m.rcpt_tos for m in smtp.mails] == [["ok@hospital.example"]]
    with session_factory() as db:
        row = db.get(OutboxMessage, bad)
        assert row is not None and row.status == MailStatus.FAILED and "550" in row.last_error
    smtp.recorder.refuse.clear()
    with session_factory.begin() as db:
        assert outbox.retry(db, [bad], clock()) == 1
    assert outbox.deliver_due(session_factory, mail_settings, clock).sent == 1
    assert len(smtp.mails) == 2


def test_a_claim_is_exclusive_until_its_lease_expires(session_factory, mail_settings, clock):
    _queue(session_factory, clock, n=2)
    with session_factory.begin() as db:
        assert len(outbox.claim(db, mail_settings, clock(), 10)) == 2
    with session_factory.begin() as db:
        assert outbox.claim(db, mail_settings, clock(), 10) == []  # another worker gets nothing
    clock.moment += timedelta(seconds=mail_settings.mail_lease_seconds + 1)  # the first worker died
    with session_factory.begin() as db:
        assert len(outbox.claim(db, mail_settings, clock(), 10)) == 2


def test_concurrent_workers_send_each_mail_once(session_factory, mail_settings, smtp, clock):
    _queue(session_factory, clock, n=30)
    settings = mail_settings.model_copy(update={"mail_batch_size": 4})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.deliver(session_factory, settings, clock)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    worker.deliver(session_factory, settings, clock)  # whatever a busy round left behind
    assert sorted(m.body for m in smtp.mails) == sorted(f"{BODY}{i}\n" for i in range(30))
    assert _statuses(session_factory) == ["sent"] * 30


def test_smtp_login_uses_the_secret_and_never_reveals_it(session_factory, mail_settings, clock):
    secret = "s3cret-smtp-password"
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # aiosmtpd's authenticator hook
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == secret.encode(), handled=False)

    recorder = Recorder()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        base = mail_settings.model_copy(update={"smtp_port": controller.port, "smtp_username": "chousa"})
        wrong = base.model_copy(update={"smtp_password": SecretStr("wrong-password")})
        _queue(session_factory, clock)
        report = outbox.deliver_due(session_factory, wrong, clock)
        assert report.deferred == 1 and "authentication failed" in report.error
        assert "wrong-password" not in repr(wrong) and "wrong-password" not in report.error
        clock.moment += timedelta(minutes=5)
        right = base.model_copy(update={"smtp_password": SecretStr(secret)})
        assert outbox.deliver_due(session_factory, right, clock).sent == 1
        assert seen[-1] == (b"chousa", secret.encode())
        assert len(recorder.mails) == 1
    finally:
        controller.stop()
