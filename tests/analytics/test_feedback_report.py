"""The per-hospital feedback report as data: own answers only, peers through suppressed aggregates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from report_world import make_report_world
from sqlalchemy.orm import Session

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.feedback import PeerContext, feedback_report
from datahealth.analytics.history import load_previous
from datahealth.survey.tables import Survey

NOW = datetime(2025, 2, 11, 3, tzinfo=UTC)


def context(db: Session, survey_id: int) -> PeerContext:
    survey = db.get(Survey, survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    return PeerContext(data, load_previous(db, survey, data.scoring), NOW)


def test_feedback_of_a_tokyo_hospital(db: Session) -> None:
    world = make_report_world(db)
    ctx = context(db, world.survey_id)
    assert ctx.respondents == 24
    report = feedback_report(ctx, world.hospitals[0])
    assert report is not None
    record = report.hospital
    assert (record.code, record.prefecture_code, report.prefecture_label.ja) == (world.codes[0], 13, "東京都")
    assert (report.met, report.applicable) == (record.score.met, record.score.applicable)  # type: ignore[union-attr]
    # peers: all hospitals (24), its band (4 hospitals: hidden), Tokyo (14)
    national, band, tokyo = report.positions
    assert national.stats.n == 24 and national.share_below is not None
    assert band.share_below is None and band.stats.median is None  # 20–99 beds: 4 hospitals < 10
    assert tokyo.stats.n == 14 and tokyo.share_below is not None
    for domain in report.domains:
        for item in domain.items:
            assert [p.label.ja for p in item.peers] == ["全国", "20～99床", "東京都"]
            assert item.peers[1].percent is None  # a band of 4 is never shown
    # actions: exactly the items not met, critical ones first
    not_met = [i.item.key for d in report.domains for i in d.items if i.result.status == "not_met"]
    assert sorted(a.item.key for a in report.actions) == sorted(not_met)
    critical = [a.item.critical for a in report.actions]
    assert critical == sorted(critical, reverse=True)
    assert len(report.prefecture_medians) == 47
    assert report.prefecture_medians[12] is not None  # Tokyo: 14 hospitals
    assert report.prefecture_medians[26] is None and report.prefecture_medians[30] is None  # Osaka 6, Tottori 4


def test_small_prefecture_rates_are_hidden(db: Session) -> None:
    world = make_report_world(db)
    report = feedback_report(context(db, world.survey_id), world.hospitals[-1])  # Tottori
    assert report is not None and report.prefecture_label.ja == "鳥取県"
    assert all(item.peers[2].percent is None for d in report.domains for item in d.items)
    assert report.positions[2].share_below is None


def test_report_holds_no_other_hospitals_answers(db: Session) -> None:
    world = make_report_world(db)
    ctx = context(db, world.survey_id)
    report = feedback_report(ctx, world.hospitals[0])
    assert report is not None
    others = {r.name for r in ctx.data.submitted()} - {report.hospital.name}
    text = repr(report)
    assert not any(name in text for name in others)


def test_year_over_year(db: Session) -> None:
    world = make_report_world(db)
    ctx = context(db, world.survey_id)
    report = feedback_report(ctx, world.hospitals[0])
    assert report is not None and report.history is not None
    changes = {c.key: c for c in report.history.changes}
    assert changes["asset_ledger"].change == "new" and changes["asset_ledger"].before is None  # not asked in FY2023
    assert changes["ciso"].before in ("met", "not_met")
    assert (
        report.history.count("improved") + report.history.count("regressed") + report.history.count("unchanged") == 12
    )
    last = feedback_report(ctx, world.hospitals[-1])  # did not answer the previous survey
    assert last is not None and last.history is None


def test_not_submitted_has_no_report(db: Session) -> None:
    world = make_report_world(db, submit_first=False, previous=False)
    ctx = context(db, world.survey_id)
    assert feedback_report(ctx, world.hospitals[0]) is None
    assert ctx.previous is None
    report = feedback_report(ctx, world.hospitals[1])
    assert report is not None and report.history is None


@pytest.mark.parametrize("index", [0, 13])
def test_positions_are_consistent(db: Session, index: int) -> None:
    world = make_report_world(db)
    ctx = context(db, world.survey_id)
    report = feedback_report(ctx, world.hospitals[index])
    assert report is not None
    share = report.positions[0].share_below
    assert share is not None
    scores = sorted(r.score.overall for r in ctx.data.submitted() if r.score and r.score.overall is not None)
    mine = report.hospital.score.overall  # type: ignore[union-attr]
    below = sum(1 for s in scores if s < mine) + 0.5 * sum(1 for s in scores if s == mine)
    assert share == pytest.approx(below / len(scores))
