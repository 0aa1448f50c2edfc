"""The national report as data: internal (all counts, follow-up list) and public (suppressed, no list)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from report_world import make_report_world
from sqlalchemy.orm import Session

from datahealth.analytics.aggregates import view_table
from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import national_report, parse_view
from datahealth.analytics.suppression import recomputable
from datahealth.errors import UserError
from datahealth.survey.tables import Survey

NOW = datetime(2025, 2, 11, 3, tzinfo=UTC)


def reports(db: Session):  # type: ignore[no-untyped-def]
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    previous = load_previous(db, survey, data.scoring)
    return world, data, national_report(data, "internal", NOW, previous), national_report(data, "public", NOW, previous)


def test_internal_shows_every_count_and_the_follow_up_list(db: Session) -> None:
    world, data, internal, _public = reports(db)
    assert (internal.targets, internal.submitted, internal.rate) == (24, 24, 100.0)
    tokyo = next(row for row in internal.response_prefecture.rows if row.key == "13")
    assert tokyo.cells[0].count == 14 and tokyo.total.count == 14
    tottori = next(row for row in internal.response_prefecture.rows if row.key == "31")
    assert tottori.cells[0].count == 4  # shown to the ministry, marked small
    assert tottori.cells[0].small
    tiers = {tier.key: count for tier, count in internal.tier_counts}
    expected = [r for r in data.submitted() if r.score and r.score.risk_tier]
    assert sum(tiers.values()) == len(expected) == len(internal.followup)
    order = [(f.tier.key, -len(f.gaps), -(f.record.bed_count or 0)) for f in internal.followup]
    rank = {"highest": 0, "high": 1}
    assert [(rank[t], g, b) for t, g, b in order] == sorted((rank[t], g, b) for t, g, b in order)
    assert all(f.respondent for f in internal.followup)  # Q1-1 as the contact
    assert internal.trends is not None
    assert internal.trends.pairs.totals.total.count is not None


def test_public_hides_small_cells_and_lists_no_hospital(db: Session) -> None:
    _world, data, _internal, public = reports(db)
    assert public.followup == []
    tottori = next(row for row in public.response_prefecture.rows if row.key == "31")
    assert tottori.cells[0].count is None and tottori.total.count is None
    # every public table: no hidden entry can be recomputed from what it shows
    for item in public.items:
        view = item.tables["prefecture"]
        counts = [[c.count for c in row.cells] for row in view.rows]
        assert all(c is None or c >= 10 for row in counts for c in row)
    assert public.band_stats["20-99"].median is None  # 4 hospitals
    assert public.national.median is not None


def test_public_tables_cannot_be_recomputed(db: Session) -> None:
    _world, data, _internal, public = reports(db)
    from datahealth.analytics.aggregates import item_table

    table = item_table(data.submitted(), data.scoring, "offline_backup", "prefecture")
    view = view_table(table, "public")
    hidden = set()
    for i, row in enumerate(view.rows):
        hidden |= {(i, j) for j, c in enumerate(row.cells) if c.count is None}
        if row.total.count is None:
            hidden.add((i, len(view.cols)))
    assert hidden and recomputable(table.counts, hidden) == set()


def test_percent_needs_a_shown_denominator(db: Session) -> None:
    _world, _data, _internal, public = reports(db)
    for item in public.items:
        for row in item.tables["band"].rows:
            if row.total.count is None:
                assert all(c.percent is None for c in row.cells)


def test_view_names() -> None:
    assert parse_view(None) == "internal"
    assert parse_view("public") == "public"
    with pytest.raises(UserError) as caught:
        parse_view("everything")
    assert caught.value.code == "DH-R203"
