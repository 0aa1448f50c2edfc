"""The operations demo: open the demo survey, mail reaches the local sink; the sink and CLI commands work."""

from __future__ import annotations

from datetime import date

from ops_smtp import free_port
from sqlalchemy import func, select
from typer.testing import CliRunner

import factories as f
from datahealth.cli import app
from datahealth.demo import FIXED_HOSPITALS, load_demo
from datahealth.operations import notices, worker
from datahealth.operations.demo import DEMO_SURVEY_ID, demo_address, load_operations_demo
from datahealth.operations.sink import MailSink, received
from datahealth.operations.tables import Inquiry, Notice, OutboxMessage
from datahealth.survey import service
from datahealth.survey.tables import Survey, SurveyStatus

TODAY = date(2025, 2, 16)


def test_demo_survey_opens_and_its_mail_reaches_the_sink(session_factory, settings, clock, tmp_path):
    clock.moment = f.at(2025, 2, 16)
    with session_factory.begin() as db:
        load_demo(db, hospitals=12, seed=3, today=TODAY)
        draft = load_operations_demo(db, today=TODAY, now=clock())
        assert (draft.status, draft.opens_on, draft.closes_on) == (SurveyStatus.DRAFT, TODAY, date(2025, 3, 29))
        assert db.scalar(select(func.count()).select_from(Inquiry)) == 1
        service.set_status(db, draft, SurveyStatus.OPEN)
        told = notices.announce_open(db, draft, "http://127.0.0.1:8000", clock())
        assert told.notices == 12 and told.emails == 12  # generated hospitals and the fixed ones have addresses
    sink = MailSink(tmp_path / "sink", port=free_port()).start()
    try:
        served = settings.model_copy(update={"smtp_port": sink.port, "smtp_host": "127.0.0.1"})
        report = worker.run_once(session_factory, served, clock)
        assert report.delivery.sent == 12
    finally:
        sink.stop()
    mails = received(tmp_path / "sink")
    assert len(mails) == 12
    mine = next(m for m in mails if m.recipients == [demo_address(FIXED_HOSPITALS[0].code)])
    assert mine.subject.startswith("【調査依頼】令和7年度 病院における医療情報システムのサイバーセキュリティ対策")
    assert f"{FIXED_HOSPITALS[0].name} ご担当者様" in mine.body
    with session_factory() as db:
        survey = db.scalars(select(Survey).where(Survey.survey_key == DEMO_SURVEY_ID)).one()
        assert db.scalar(select(func.count()).select_from(Notice).where(Notice.survey_id == survey.id)) == 12
        assert db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == 12


def test_worker_once_and_mail_sink_commands(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("DATAHEALTH_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("DATAHEALTH_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATAHEALTH_SMTP_PORT", str(free_port()))
    runner = CliRunner()
    result = runner.invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    port = free_port()
    result = runner.invoke(app, ["mail-sink", "--port", str(port), "--directory", str(tmp_path), "--seconds", "0.5"])
    assert result.exit_code == 0, result.output
    assert f"127.0.0.1:{port}" in result.output
