"""The national workbook: every table, hidden cells as "—", no hospital list in the public one."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook
from report_world import make_report_world
from sqlalchemy.orm import Session

from datahealth.analytics.dataset import load_survey_data
from datahealth.analytics.history import load_previous
from datahealth.analytics.national import national_report
from datahealth.reports.xlsx import national_xlsx
from datahealth.survey.tables import Survey

NOW = datetime(2025, 2, 11, 3, tzinfo=UTC)


def workbooks(db: Session):  # type: ignore[no-untyped-def]
    world = make_report_world(db)
    survey = db.get(Survey, world.survey_id)
    assert survey is not None
    data = load_survey_data(db, survey)
    previous = load_previous(db, survey, data.scoring)
    books = {}
    for view in ("internal", "public"):
        content = national_xlsx(national_report(data, view, NOW, previous))
        books[view] = load_workbook(io.BytesIO(content))
    return books


def values(sheet) -> list[list[object]]:  # type: ignore[no-untyped-def]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_sheets_and_hidden_cells(db: Session) -> None:
    books = workbooks(db)
    internal, public = books["internal"], books["public"]
    assert "要フォローアップ病院（ランサムウェア高リスク）" in internal.sheetnames
    assert "要フォローアップ病院（ランサムウェア高リスク）" not in public.sheetnames
    for name in ("概要", "回答状況", "クロス集計", "パスワード最低桁数の分布", "前回調査との比較"):
        assert name in public.sheetnames
    response = values(public["回答状況"])
    tottori = next(row for row in response if row[0] == "鳥取県")
    assert tottori[1] == "—" and tottori[-1] == "—"
    tokyo = next(row for row in response if row[0] == "東京都")
    # all 14 answered: the 0 not answering is a small cell, so the 14 would give it away; the total stays
    assert (tokyo[1], tokyo[3], tokyo[-1]) == ("—", "—", 14)
    internal_tottori = next(row for row in values(internal["回答状況"]) if row[0] == "鳥取県")
    assert internal_tottori[1] == 4
    followup = values(internal["要フォローアップ病院（ランサムウェア高リスク）"])
    assert followup[0][:3] == ["区分", "医療機関コード", "医療機関"]
    assert all(str(row[1]).isdigit() for row in followup[1:])
    everything = " ".join(str(v) for sheet in public.worksheets for row in values(sheet) for v in row)
    assert "テスト病院" not in everything
