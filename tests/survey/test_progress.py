"""Response progress: hand-computed counts by prefecture and bed band, non-responders, the admin list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.errors import UserError
from datahealth.survey.definitions import load_bundled
from datahealth.survey.progress import ProgressCell, non_responders, responses_page, survey_progress
from datahealth.survey.tables import Response, ResponseStatus, Survey
from factories import make_admin, make_open_survey, make_org

SAVED = datetime(2025, 2, 3, 3, tzinfo=UTC)
SUBMITTED = datetime(2025, 2, 4, 3, tzinfo=UTC)


def respond(db: Session, survey: Survey, org: Organisation, status: ResponseStatus) -> Response:
    response = Response(
        survey_id=survey.id,
        organisation_id=org.id,
        status=status,
        answers={},
        updated_at=SAVED,
        submitted_at=SUBMITTED if status == ResponseStatus.SUBMITTED else None,
    )
    db.add(response)
    db.flush()
    return response


@pytest.fixture
def scene(db: Session) -> dict[str, object]:
    """Six targets over three prefectures and five bands, plus things that must not be counted."""
    make_admin(db)  # a ministry organisation: never a target
    orgs = {
        "A": make_org(db, "1310000001", "青葉病院", prefecture_code=13, bed_count=50),
        "B": make_org(db, "1310000002", "桜台病院", prefecture_code=13, bed_count=150),
        "C": make_org(db, "1310000003", "中央医療センター", prefecture_code=13, bed_count=600),
        "D": make_org(db, "0110000004", "北野病院", prefecture_code=1, bed_count=80),
        "E": make_org(db, "2710000005", "港南病院", prefecture_code=27, bed_count=None),
        "F": make_org(db, "2710000006", "西原100%病院", prefecture_code=27, bed_count=450),
    }
    defn = load_bundled("cyber-fy2024")
    survey = make_open_survey(db, defn)
    # Registered after the survey was opened: not a target, so its response must not count.
    late = make_org(db, "1310000099", "後から登録病院", prefecture_code=13, bed_count=50)
    respond(db, survey, late, ResponseStatus.SUBMITTED)
    respond(db, survey, orgs["A"], ResponseStatus.SUBMITTED)
    respond(db, survey, orgs["B"], ResponseStatus.DRAFT)
    respond(db, survey, orgs["D"], ResponseStatus.SUBMITTED)
    respond(db, survey, orgs["E"], ResponseStatus.SUBMITTED)
    # Another survey, where C has a draft: it must not leak into the first survey's counts.
    other = make_open_survey(db, defn.model_copy(update={"version": "2024.2"}))
    respond(db, other, orgs["C"], ResponseStatus.DRAFT)
    db.commit()
    return {"survey": survey, "other": other, **orgs}


def cell(submitted: int, draft: int, not_started: int) -> tuple[int, int, int]:
    return (submitted, draft, not_started)


def counts(progress_cell: ProgressCell) -> tuple[int, int, int]:
    return (progress_cell.submitted, progress_cell.draft, progress_cell.not_started)


def test_survey_progress_counts(db: Session, scene: dict[str, object]) -> None:
    survey = scene["survey"]
    assert isinstance(survey, Survey)
    progress = survey_progress(db, survey.id)

    assert counts(progress.overall) == cell(3, 1, 2)
    assert progress.overall.total == 6
    assert progress.overall.rate == pytest.approx(0.5)

    assert [code for code, _ in progress.by_prefecture] == list(range(1, 48))
    by_prefecture = {code: counts(value) for code, value in progress.by_prefecture}
    assert by_prefecture[13] == cell(1, 1, 1)
    assert by_prefecture[1] == cell(1, 0, 0)
    assert by_prefecture[27] == cell(1, 0, 1)
    assert all(value == cell(0, 0, 0) for code, value in by_prefecture.items() if code not in (1, 13, 27))
    assert dict(progress.by_prefecture)[2].rate == 0

    assert [band.key for band, _ in progress.by_band] == ["20-99", "100-199", "200-299", "300-399", "400-499", "500+"]
    by_band = {band.key: counts(value) for band, value in progress.by_band}
    assert by_band == {
        "20-99": cell(2, 0, 0),
        "100-199": cell(0, 1, 0),
        "200-299": cell(0, 0, 0),
        "300-399": cell(0, 0, 0),
        "400-499": cell(0, 0, 1),
        "500+": cell(0, 0, 1),
    }
    assert counts(progress.unknown_band) == cell(1, 0, 0)
    assert counts(progress.unknown_prefecture) == cell(0, 0, 0)

    other = scene["other"]
    assert isinstance(other, Survey)
    assert counts(survey_progress(db, other.id).overall) == cell(0, 1, 6)


def test_non_responders(db: Session, scene: dict[str, object]) -> None:
    survey = scene["survey"]
    assert isinstance(survey, Survey)
    rows, total = non_responders(db, survey.id)
    assert total == 3
    assert [(row.code, row.status) for row in rows] == [
        ("1310000002", "draft"),
        ("1310000003", "not_started"),
        ("2710000006", "not_started"),
    ]
    assert rows[0].updated_at == SAVED and rows[1].updated_at is None
    assert (rows[2].name, rows[2].prefecture_code, rows[2].bed_count) == ("西原100%病院", 27, 450)

    rows, total = non_responders(db, survey.id, band="500+")
    assert ([row.code for row in rows], total) == (["1310000003"], 1)
    rows, total = non_responders(db, survey.id, prefecture=27)
    assert ([row.code for row in rows], total) == (["2710000006"], 1)
    rows, total = non_responders(db, survey.id, limit=1, offset=1)
    assert ([row.code for row in rows], total) == (["1310000003"], 3)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["0110000004", "1310000001", "1310000002", "1310000003", "2710000005", "2710000006"]),
        ({"status": "submitted"}, ["0110000004", "1310000001", "2710000005"]),
        ({"status": "draft"}, ["1310000002"]),
        ({"status": "not_started"}, ["1310000003", "2710000006"]),
        ({"prefecture": 13, "band": "20-99"}, ["1310000001"]),
        ({"query": "27"}, ["2710000005", "2710000006"]),  # code prefix
        ({"query": "１３１"}, ["1310000001", "1310000002", "1310000003"]),  # full-width digits
        ({"query": "0000"}, []),  # a code matches from its start only
        ({"query": "病院", "status": "submitted"}, ["0110000004", "1310000001", "2710000005"]),
        ({"query": "医療センター"}, ["1310000003"]),
        ({"query": "100%"}, ["2710000006"]),  # LIKE wildcards are taken literally
        ({"query": "%"}, ["2710000006"]),
        ({"query": "_"}, []),
        ({"query": "   "}, ["0110000004", "1310000001", "1310000002", "1310000003", "2710000005", "2710000006"]),
    ],
)
def test_responses_page_filters(
    db: Session, scene: dict[str, object], filters: dict[str, object], expected: list[str]
) -> None:
    survey = scene["survey"]
    assert isinstance(survey, Survey)
    rows, total = responses_page(db, survey.id, limit=50, offset=0, **filters)  # type: ignore[arg-type]
    assert [row.code for row in rows] == expected
    assert total == len(expected)


def test_responses_page_rows(db: Session, scene: dict[str, object]) -> None:
    survey = scene["survey"]
    assert isinstance(survey, Survey)
    rows, total = responses_page(db, survey.id, status=None, prefecture=13, band=None, query=None, limit=2, offset=0)
    assert total == 3
    first, second = rows
    assert (first.code, first.status, first.submitted_at, first.updated_at) == (
        "1310000001",
        "submitted",
        SUBMITTED,
        SAVED,
    )
    assert first.response_id is not None
    assert (second.code, second.status, second.submitted_at) == ("1310000002", "draft", None)
    rows, _ = responses_page(
        db, survey.id, status="not_started", prefecture=None, band=None, query=None, limit=50, offset=0
    )
    assert all(row.response_id is None and row.updated_at is None for row in rows)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda db, sid: responses_page(
                db, sid, status="submitted' OR 1=1", prefecture=None, band=None, query=None, limit=50, offset=0
            ),
            "status",
        ),
        (
            lambda db, sid: responses_page(
                db, sid, status=None, prefecture=None, band="20-100", query=None, limit=50, offset=0
            ),
            "band",
        ),
        (
            lambda db, sid: responses_page(
                db, sid, status=None, prefecture=48, band=None, query=None, limit=50, offset=0
            ),
            "prefecture",
        ),
        (
            lambda db, sid: responses_page(
                db, sid, status=None, prefecture=None, band=None, query="x" * 101, limit=50, offset=0
            ),
            "query",
        ),
        (
            lambda db, sid: responses_page(
                db, sid, status=None, prefecture=None, band=None, query=None, limit=0, offset=0
            ),
            "limit",
        ),
        (lambda db, sid: non_responders(db, sid, band="unknown"), "band"),
        (lambda db, sid: non_responders(db, sid, prefecture=0), "prefecture"),
        (lambda db, sid: non_responders(db, sid, offset=-1), "offset"),
    ],
)
def test_invalid_filters_are_refused(db: Session, scene: dict[str, object], call: object, field: str) -> None:
    survey = scene["survey"]
    assert isinstance(survey, Survey) and callable(call)
    with pytest.raises(UserError) as caught:
        call(db, survey.id)
    assert caught.value.code == "DH-S210"
    assert caught.value.problems[0].field == field


def test_empty_survey_has_zero_rates(db: Session) -> None:
    survey = make_open_survey(db, load_bundled("cyber-fy2024"))
    progress = survey_progress(db, survey.id)
    assert progress.overall.total == 0 and progress.overall.rate == 0
    assert len(progress.by_prefecture) == 47 and len(progress.by_band) == 6
    assert non_responders(db, survey.id) == ([], 0)
