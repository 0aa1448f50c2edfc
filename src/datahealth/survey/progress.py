"""Response progress for administrators: counts by prefecture and bed band, non-responders, the list.

Everything is counted in SQL over the survey's targets left-joined to their responses, so a
national survey (about 8,000 hospitals) costs one grouped query, never one query per hospital.
A target without a response row is "not started"; otherwise the response's status counts.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from datahealth.auth.tables import Organisation
from datahealth.errors import Problem, UserError
from datahealth.institutions import BED_BANDS, PREFECTURES, BedBand
from datahealth.survey.tables import Response, ResponseStatus, SurveyTarget

NOT_STARTED = "not_started"
STATUSES = (ResponseStatus.SUBMITTED.value, ResponseStatus.DRAFT.value, NOT_STARTED)
"""The statuses a target hospital can be in, as shown to administrators."""
MAX_LIMIT = 10_000
MAX_QUERY_LENGTH = 100

Status = Literal["submitted", "draft", "not_started"]


@dataclass
class ProgressCell:
    submitted: int = 0
    draft: int = 0
    not_started: int = 0

    @property
    def total(self) -> int:
        return self.submitted + self.draft + self.not_started

    @property
    def rate(self) -> float:
        """Share of targets that submitted (0 when there are none)."""
        return self.submitted / self.total if self.total else 0.0

    def add(self, status: str, count: int) -> None:
        if status == ResponseStatus.SUBMITTED:
            self.submitted += count
        elif status == ResponseStatus.DRAFT:
            self.draft += count
        else:
            self.not_started += count


@dataclass
class Progress:
    overall: ProgressCell
    by_prefecture: list[tuple[int, ProgressCell]]
    """All 47 prefectures in JIS order, empty ones included."""
    by_band: list[tuple[BedBand, ProgressCell]]
    """All six bed bands of the ministry's reports."""
    unknown_band: ProgressCell
    """Targets whose bed count is missing (or below 20)."""
    unknown_prefecture: ProgressCell = field(default_factory=ProgressCell)
    """Targets without a valid prefecture code (counted in ``overall`` only)."""


@dataclass
class NonResponder:
    organisation_id: int
    code: str
    name: str
    prefecture_code: int | None
    bed_count: int | None
    status: Status
    """``draft`` (started, not submitted) or ``not_started``."""
    updated_at: datetime | None
    """When the draft was last saved; ``None`` when not started."""


@dataclass
class ResponseRow:
    organisation_id: int
    code: str
    name: str
    prefecture_code: int | None
    bed_count: int | None
    status: Status
    updated_at: datetime | None
    submitted_at: datetime | None
    response_id: int | None
    receipt_code: str | None = None


# --- SQL building blocks -------------------------------------------------------------------------------


def _status_expr() -> ColumnElement[str]:
    return func.coalesce(Response.status, literal(NOT_STARTED))


def _band_expr() -> ColumnElement[Any]:
    """The bed band key of ``Organisation.bed_count`` in SQL (NULL when unknown)."""
    whens: list[tuple[ColumnElement[bool], str]] = []
    for band in sorted(BED_BANDS, key=lambda b: b.low, reverse=True):
        whens.append((Organisation.bed_count >= band.low, band.key))
    return case(*whens, else_=None)


def _band_condition(key: str) -> ColumnElement[bool]:
    band = next((band for band in BED_BANDS if band.key == key), None)
    if band is None:
        raise UserError(Problem("DH-S210", {"value": key}, field="band"))
    low = Organisation.bed_count >= band.low
    return low if band.high is None else and_(low, Organisation.bed_count <= band.high)


def _targets(survey_id: int, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(SurveyTarget)
        .join(Organisation, Organisation.id == SurveyTarget.organisation_id)
        .outerjoin(
            Response,
            and_(
                Response.survey_id == SurveyTarget.survey_id, Response.organisation_id == SurveyTarget.organisation_id
            ),
        )
        .where(SurveyTarget.survey_id == survey_id)
    )


def _check_prefecture(prefecture: int | None) -> None:
    if prefecture is not None and not 1 <= prefecture <= len(PREFECTURES):
        raise UserError(Problem("DH-S210", {"value": prefecture}, field="prefecture"))


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise UserError(Problem("DH-S210", {"value": limit}, field="limit"))
    if offset < 0:
        raise UserError(Problem("DH-S210", {"value": offset}, field="offset"))


def _ordered(stmt: Select[Any]) -> Select[Any]:
    # Hospitals without a prefecture go last on every engine (SQLite sorts NULL first, PostgreSQL last).
    return stmt.order_by(
        Organisation.prefecture_code.is_(None), Organisation.prefecture_code, Organisation.code, Organisation.id
    )


def _count(db: Session, stmt: Select[Any]) -> int:
    return db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


# --- progress ------------------------------------------------------------------------------------------


def survey_progress(db: Session, survey_id: int) -> Progress:
    """Submitted / draft / not-started counts overall, by prefecture and by bed band."""
    status, band = _status_expr(), _band_expr()
    # Group by the output labels: repeating the expressions would bind their literals twice, which
    # PostgreSQL does not recognise as the same expression.
    stmt = _targets(
        survey_id,
        Organisation.prefecture_code,
        band.label("band_key"),
        status.label("status_value"),
        func.count().label("n"),
    )
    stmt = stmt.group_by(Organisation.prefecture_code, "band_key", "status_value")
    overall = ProgressCell()
    prefectures = {code: ProgressCell() for code in range(1, len(PREFECTURES) + 1)}
    bands = {b.key: ProgressCell() for b in BED_BANDS}
    unknown_band, unknown_prefecture = ProgressCell(), ProgressCell()
    for prefecture_code, band_key, status_value, count in db.execute(stmt):
        overall.add(status_value, count)
        prefectures.get(prefecture_code, unknown_prefecture).add(status_value, count)
        bands.get(band_key, unknown_band).add(status_value, count)
    return Progress(
        overall=overall,
        by_prefecture=sorted(prefectures.items()),
        by_band=[(b, bands[b.key]) for b in BED_BANDS],
        unknown_band=unknown_band,
        unknown_prefecture=unknown_prefecture,
    )


# --- lists ---------------------------------------------------------------------------------------------


def non_responders(
    db: Session,
    survey_id: int,
    *,
    prefecture: int | None = None,
    band: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[NonResponder], int]:
    """Targets that have not submitted (drafts and not started), by prefecture then code; with the total."""
    _check_prefecture(prefecture)
    _check_page(limit, offset)
    stmt = _targets(
        survey_id,
        Organisation.id,
        Organisation.code,
        Organisation.name,
        Organisation.prefecture_code,
        Organisation.bed_count,
        _status_expr(),
        Response.updated_at,
    ).where(or_(Response.id.is_(None), Response.status != ResponseStatus.SUBMITTED))
    if prefecture is not None:
        stmt = stmt.where(Organisation.prefecture_code == prefecture)
    if band is not None:
        stmt = stmt.where(_band_condition(band))
    total = _count(db, stmt)
    rows = db.execute(_ordered(stmt).limit(limit).offset(offset)).all()
    return [
        NonResponder(org_id, code, name, pref, beds, _as_status(status), None if status == NOT_STARTED else updated_at)
        for org_id, code, name, pref, beds, status, updated_at in rows
    ], total


def responses_page(
    db: Session,
    survey_id: int,
    *,
    status: str | None = None,
    prefecture: int | None = None,
    band: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ResponseRow], int]:
    """One page of the administrator's response list with the number of matching targets.

    Filters come from allow-lists: ``status`` is one of ``STATUSES``, ``band`` a ``BED_BANDS`` key,
    ``prefecture`` a JIS code; anything else raises ``UserError`` DH-S210. ``query`` matches the
    start of the institution code or any part of the hospital name.
    """
    _check_prefecture(prefecture)
    _check_page(limit, offset)
    stmt = _targets(
        survey_id,
        Organisation.id,
        Organisation.code,
        Organisation.name,
        Organisation.prefecture_code,
        Organisation.bed_count,
        _status_expr(),
        Response.updated_at,
        Response.submitted_at,
        Response.id,
        Response.receipt_code,
    )
    if status is not None:
        if status not in STATUSES:
            raise UserError(Problem("DH-S210", {"value": status}, field="status"))
        if status == NOT_STARTED:
            stmt = stmt.where(Response.id.is_(None))
        else:
            stmt = stmt.where(Response.status == status)
    if prefecture is not None:
        stmt = stmt.where(Organisation.prefecture_code == prefecture)
    if band is not None:
        stmt = stmt.where(_band_condition(band))
    if query is not None and query.strip():
        stmt = stmt.where(_query_condition(query))
    total = _count(db, stmt)
    rows = db.execute(_ordered(stmt).limit(limit).offset(offset)).all()
    return [
        ResponseRow(
            org_id, code, name, pref, beds, _as_status(row_status), updated_at, submitted_at, response_id, receipt
        )
        for org_id, code, name, pref, beds, row_status, updated_at, submitted_at, response_id, receipt in rows
    ], total


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _query_condition(query: str) -> ColumnElement[bool]:
    raw = query.strip()
    if len(raw) > MAX_QUERY_LENGTH:
        raise UserError(Problem("DH-S210", {"value": raw[:20] + "…"}, field="query"))
    normalised = unicodedata.normalize("NFKC", raw)  # full-width digits typed for a code still match
    conditions = [
        Organisation.code.like(_like_escape(normalised) + "%", escape="\\"),
        Organisation.name.ilike("%" + _like_escape(raw) + "%", escape="\\"),
    ]
    if normalised != raw:
        conditions.append(Organisation.name.ilike("%" + _like_escape(normalised) + "%", escape="\\"))
    return or_(*conditions)


def _as_status(value: str) -> Status:
    if value == ResponseStatus.SUBMITTED:
        return "submitted"
    if value == ResponseStatus.DRAFT:
        return "draft"
    return "not_started"
