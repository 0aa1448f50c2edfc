"""Data quality of a consortium's stored records: volume, coverage, flags, devices, manual entry.

Every figure is an SQL aggregate that runs unchanged on SQLite and PostgreSQL (``extract``, ``date``,
``count(distinct …)``, ``sum(case …)``, ``union``); Python only arranges the aggregated rows (at most
one per participant, device or month), never one per record. ``consortium_id=None`` reports on every
consortium (researchers and the secretariat).

- records per type per month (by observation time, as sent, Japan local time);
- share of days with data per participant: days with at least one record of any type, within the
  participation period up to ``today``, divided by the days of that period so far;
- flagged values per code (the ``flags`` the checker stored) and, per field, values outside the
  specification's plausible range;
- device mix: records per maker code and model number, with their share of the type's records;
- share of manual entry: data_input_code 1 (entered by hand) and 2 (device data corrected by hand).

``aggregate_view`` is the report as an aggregate-only reader (a researcher) sees it: no per-participant
rows (the coverage table names participants), only the mean share of days with data; record types and
device groups with data of fewer than ``THRESHOLD`` participants are left out, as is the mean over fewer
than ``THRESHOLD`` participants, so no figure describes one participant or a handful of them.
``researcher_view`` adds complementary suppression to the report over every consortium.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import ColumnElement, Date, Select, Table, and_, case, extract, func, or_, select, union
from sqlalchemy.orm import Session

from datahealth.analytics.suppression import THRESHOLD
from datahealth.errors import CATALOGUE
from datahealth.exchange import spec
from datahealth.exchange.spec_model import RecordType
from datahealth.exchange.tables import table_for

FLAG_CODES: tuple[str, ...] = tuple(sorted(code for code in CATALOGUE if code.startswith("DH-W")))
MANUAL_CODES = ("1", "2")


@dataclass(frozen=True)
class TypeTotal:
    record_type: str
    records: int
    participants: int


@dataclass(frozen=True)
class MonthCount:
    record_type: str
    month: str
    """``yyyy-MM``."""
    records: int


@dataclass(frozen=True)
class Coverage:
    consortium_id: str
    participant_id: str
    start: date
    end: date | None
    period_days: int
    """Days from the participation start to its end or ``today``, whichever is earlier (0 if not started)."""
    days_with_data: int
    days_by_type: dict[str, int]

    @property
    def share(self) -> float | None:
        return self.days_with_data / self.period_days if self.period_days else None


@dataclass(frozen=True)
class FlagCount:
    record_type: str
    code: str
    records: int
    share: float
    """Of the type's stored records."""


@dataclass(frozen=True)
class OutOfRange:
    record_type: str
    field: str
    low: float | None
    high: float | None
    below: int
    above: int


@dataclass(frozen=True)
class DeviceShare:
    record_type: str
    maker: str
    model: str
    device_name: str
    records: int
    participants: int
    share: float


@dataclass(frozen=True)
class ManualShare:
    record_type: str
    records: int
    hand_entered: int
    """data_input_code 1."""
    hand_corrected: int
    """data_input_code 2."""

    @property
    def share(self) -> float | None:
        return (self.hand_entered + self.hand_corrected) / self.records if self.records else None


@dataclass
class QualityReport:
    consortium_id: str | None
    today: date
    totals: list[TypeTotal] = field(default_factory=list)
    monthly: list[MonthCount] = field(default_factory=list)
    coverage: list[Coverage] = field(default_factory=list)
    flags: list[FlagCount] = field(default_factory=list)
    out_of_range: list[OutOfRange] = field(default_factory=list)
    devices: list[DeviceShare] = field(default_factory=list)
    manual: list[ManualShare] = field(default_factory=list)
    aggregates_only: bool = False
    """``aggregate_view``: no per-participant rows; the fields below replace them."""
    participants_counted: int | None = None
    """Aggregate view: participants the mean coverage is over (``None``: suppressed, fewer than THRESHOLD)."""
    coverage_mean: float | None = None
    suppressed_types: list[str] = field(default_factory=list)
    """Aggregate view: record types left out (data of 1 to THRESHOLD - 1 participants)."""
    suppressed_devices: int = 0
    """Aggregate view: device groups left out (fewer than THRESHOLD participants)."""

    @property
    def months(self) -> list[str]:
        return sorted({row.month for row in self.monthly})

    def monthly_table(self) -> list[tuple[str, list[int]]]:
        """One row per record type with a count for each month in ``months``."""
        index = {(row.record_type, row.month): row.records for row in self.monthly}
        return [(t.record_type, [index.get((t.record_type, m), 0) for m in self.months]) for t in self.totals]

    @property
    def mean_coverage(self) -> float | None:
        if self.aggregates_only:
            return self.coverage_mean
        shares = [row.share for row in self.coverage if row.share is not None]
        return sum(shares) / len(shares) if shares else None


def aggregate_view(
    report: QualityReport,
    threshold: int = THRESHOLD,
    *,
    hidden_types: frozenset[str] = frozenset(),
    hidden_devices: frozenset[tuple[str, str, str]] = frozenset(),
    hide_mean: bool = False,
) -> QualityReport:
    """The report without anything that describes one participant (see the module docstring); ``hidden_*``
    and ``hide_mean``: complementary suppression (``researcher_view``)."""
    small = {t.record_type for t in report.totals if 0 < t.participants < threshold} | hidden_types
    kept = [name for name in (t.record_type for t in report.totals) if name not in small]
    devices = [d for d in report.devices if d.record_type not in small]
    shown_devices = [
        d for d in devices if d.participants >= threshold and (d.record_type, d.maker, d.model) not in hidden_devices
    ]
    counted = [row.share for row in report.coverage if row.share is not None]
    enough = len(counted) >= threshold and not hide_mean
    return replace(
        report,
        totals=[t for t in report.totals if t.record_type in kept],
        monthly=[m for m in report.monthly if m.record_type not in small],
        coverage=[],
        flags=[f for f in report.flags if f.record_type not in small],
        out_of_range=[o for o in report.out_of_range if o.record_type not in small],
        devices=shown_devices,
        manual=[m for m in report.manual if m.record_type in kept],
        aggregates_only=True,
        participants_counted=len(counted) if enough else None,
        coverage_mean=sum(counted) / len(counted) if enough else None,
        suppressed_types=[t.record_type for t in report.totals if t.record_type in small],
        suppressed_devices=len(devices) - len(shown_devices),
    )


def researcher_view(db: Session, report: QualityReport, threshold: int = THRESHOLD) -> QualityReport:
    """``aggregate_view`` for an aggregate-only reader. A report over every consortium also hides what a
    small group of one consortium would add to it (complementary suppression): otherwise "all consortia"
    minus the consortia that are shown would give the hidden consortium's figures."""
    if report.consortium_id is not None:
        return aggregate_view(report, threshold)
    hidden_types: set[str] = set()
    for record in spec.RECORDS:
        table = table_for(record.name)
        people = select(func.count(func.distinct(table.c.participant_id))).group_by(table.c.consortium_id)
        if any(0 < int(n) < threshold for (n,) in db.execute(people)):
            hidden_types.add(record.name)
    hidden_devices: set[tuple[str, str, str]] = set()
    for record in _device_types():
        table = table_for(record.name)
        maker, model = table.c.model_manufacturer_code, table.c.model_number
        rows = db.execute(
            select(maker, model, func.count(func.distinct(table.c.participant_id))).group_by(
                table.c.consortium_id, maker, model
            )
        )
        hidden_devices |= {(record.name, m, n) for m, n, k in rows if 0 < int(k) < threshold}
    per_consortium: dict[str, int] = {}
    for row in report.coverage:
        if row.share is not None:
            per_consortium[row.consortium_id] = per_consortium.get(row.consortium_id, 0) + 1
    return aggregate_view(
        report,
        threshold,
        hidden_types=frozenset(hidden_types),
        hidden_devices=frozenset(hidden_devices),
        hide_mean=any(0 < n < threshold for n in per_consortium.values()),
    )


def _scoped(table: Table, consortium_id: str | None) -> list[ColumnElement[bool]]:
    return [table.c.consortium_id == consortium_id] if consortium_id is not None else []


def _day(table: Table) -> ColumnElement[date]:
    """The calendar day of the observation time (``date()`` exists on SQLite and PostgreSQL)."""
    return func.date(table.c.observation_time, type_=Date)


def _device_types() -> list[RecordType]:
    return [record for record in spec.RECORDS if "model_manufacturer_code" in record.names]


def quality_report(db: Session, consortium_id: str | None, today: date) -> QualityReport:
    report = QualityReport(consortium_id, today)
    for record in spec.RECORDS:
        table = table_for(record.name)
        where = _scoped(table, consortium_id)
        total, participants = db.execute(
            select(func.count(), func.count(func.distinct(table.c.participant_id))).where(*where)
        ).one()
        report.totals.append(TypeTotal(record.name, int(total), int(participants)))
        report.monthly.extend(_monthly(db, record, table, where))
        report.flags.extend(_flags(db, record, table, where, int(total)))
        report.out_of_range.extend(_out_of_range(db, record, table, where))
        report.manual.append(_manual(db, record, table, where))
    report.coverage = _coverage(db, consortium_id, today)
    for record in _device_types():
        total = next(t.records for t in report.totals if t.record_type == record.name)
        report.devices.extend(_devices(db, record, consortium_id, total))
    return report


def _monthly(db: Session, record: RecordType, table: Table, where: list[ColumnElement[bool]]) -> list[MonthCount]:
    year = extract("year", table.c.observation_time)
    month = extract("month", table.c.observation_time)
    rows = db.execute(select(year, month, func.count()).where(*where).group_by(year, month).order_by(year, month))
    return [MonthCount(record.name, f"{int(y):04d}-{int(m):02d}", int(n)) for y, m, n in rows]


def _flags(
    db: Session, record: RecordType, table: Table, where: list[ColumnElement[bool]], total: int
) -> list[FlagCount]:
    if not total:
        return []
    # Codes are fixed-width tokens (DH-Wnnn) and none is a prefix of another, so a substring test is exact.
    sums = [func.sum(case((table.c.flags.like(f"%{code}%"), 1), else_=0)) for code in FLAG_CODES]
    counts = db.execute(select(*sums).where(*where)).one()
    return [
        FlagCount(record.name, code, int(n or 0), int(n or 0) / total)
        for code, n in zip(FLAG_CODES, counts, strict=True)
        if n
    ]


def _out_of_range(db: Session, record: RecordType, table: Table, where: list[ColumnElement[bool]]) -> list[OutOfRange]:
    checked = [(f.name, *f.plausible) for f in record.fields if f.plausible is not None]
    if not checked:
        return []
    sums: list[Any] = []
    for name, low, high in checked:
        column = table.c[name]
        sums.append(func.sum(case((column < low, 1), else_=0)) if low is not None else func.sum(0))
        sums.append(func.sum(case((column > high, 1), else_=0)) if high is not None else func.sum(0))
    values = db.execute(select(*sums).where(*where)).one()
    result = []
    for i, (name, low, high) in enumerate(checked):
        below, above = int(values[2 * i] or 0), int(values[2 * i + 1] or 0)
        if below or above:
            result.append(OutOfRange(record.name, name, low, high, below, above))
    return result


def _manual(db: Session, record: RecordType, table: Table, where: list[ColumnElement[bool]]) -> ManualShare:
    code = table.c.data_input_code
    total, hand, corrected = db.execute(
        select(
            func.count(),
            func.sum(case((code == MANUAL_CODES[0], 1), else_=0)),
            func.sum(case((code == MANUAL_CODES[1], 1), else_=0)),
        ).where(*where)
    ).one()
    return ManualShare(record.name, int(total), int(hand or 0), int(corrected or 0))


def _devices(db: Session, record: RecordType, consortium_id: str | None, total: int) -> list[DeviceShare]:
    if not total:
        return []
    table = table_for(record.name)
    device = table_for("device")
    maker, model = table.c.model_manufacturer_code, table.c.model_number
    rows = db.execute(
        select(
            maker,
            model,
            func.max(device.c.device_name),
            func.count(),
            func.count(func.distinct(table.c.participant_id)),
        )
        .select_from(table)
        .outerjoin(device, and_(device.c.model_manufacturer_code == maker, device.c.model_number == model))
        .where(*_scoped(table, consortium_id))
        .group_by(maker, model)
        .order_by(func.count().desc(), maker, model)
    )
    return [
        DeviceShare(record.name, m, n, name or "", int(count), int(people), int(count) / total)
        for m, n, name, count, people in rows
    ]


def _days_query(record: RecordType, consortium_id: str | None, today: date) -> Select[Any]:
    """(consortium, participant, day) of records inside the participation period up to ``today``."""
    table = table_for(record.name)
    participant = table_for("participant")
    day = _day(table)
    return (
        select(table.c.consortium_id, table.c.participant_id, day.label("day"))
        .join(
            participant,
            and_(
                participant.c.consortium_id == table.c.consortium_id,
                participant.c.participant_id == table.c.participant_id,
            ),
        )
        .where(
            *_scoped(table, consortium_id),
            day >= participant.c.participation_start_date,
            or_(participant.c.participation_end_date.is_(None), day <= participant.c.participation_end_date),
            day <= today,
        )
    )


def _coverage(db: Session, consortium_id: str | None, today: date) -> list[Coverage]:
    participant = table_for("participant")
    people = db.execute(
        select(
            participant.c.consortium_id,
            participant.c.participant_id,
            participant.c.participation_start_date,
            participant.c.participation_end_date,
        )
        .where(*_scoped(participant, consortium_id))
        .order_by(participant.c.consortium_id, participant.c.participant_id)
    ).all()
    if not people:
        return []
    by_type: dict[tuple[str, str], dict[str, int]] = {}
    for record in spec.RECORDS:
        days = _days_query(record, consortium_id, today).subquery()
        rows = db.execute(
            select(days.c.consortium_id, days.c.participant_id, func.count(func.distinct(days.c.day))).group_by(
                days.c.consortium_id, days.c.participant_id
            )
        )
        for cid, pid, n in rows:
            by_type.setdefault((cid, pid), {})[record.name] = int(n)
    # UNION (not UNION ALL) removes days that have records of several types.
    any_day = union(*(_days_query(record, consortium_id, today) for record in spec.RECORDS)).subquery()
    any_counts = {
        (cid, pid): int(n)
        for cid, pid, n in db.execute(
            select(any_day.c.consortium_id, any_day.c.participant_id, func.count()).group_by(
                any_day.c.consortium_id, any_day.c.participant_id
            )
        )
    }
    result = []
    for cid, pid, start, end in people:
        last = min(end, today) if end is not None else today
        period = max((last - start).days + 1, 0)
        result.append(
            Coverage(cid, pid, start, end, period, any_counts.get((cid, pid), 0), by_type.get((cid, pid), {}))
        )
    return result


# --- the downloadable report -----------------------------------------------------------------------


def _aggregate_coverage_sheet(report: QualityReport) -> tuple[str, list[str], list[list[Any]]]:
    return (
        "coverage",
        ["参加者数 / participants", "平均割合(%) / mean_share_percent"],
        [[report.participants_counted, _percent(report.coverage_mean)]] if report.participants_counted else [],
    )


def _percent(value: float | None) -> float | None:
    return round(value * 100, 1) if value is not None else None


def report_xlsx(report: QualityReport) -> bytes:
    """The report as an Excel workbook, one sheet per section, bilingual headers."""
    book = Workbook()
    sheets: list[tuple[str, list[str], list[list[Any]]]] = [
        (
            "summary",
            ["レコード種別 / record_type", "件数 / records", "参加者数 / participants"],
            [[t.record_type, t.records, t.participants] for t in report.totals],
        ),
        (
            "monthly",
            ["レコード種別 / record_type", *report.months],
            [[name, *counts] for name, counts in report.monthly_table()],
        ),
        _aggregate_coverage_sheet(report)
        if report.aggregates_only
        else (
            "coverage",
            [
                "コンソーシアムID / consortium_id",
                "参加者ID / participant_id",
                "参加開始日 / start",
                "参加終了日 / end",
                "参加日数 / period_days",
                "データのある日数 / days_with_data",
                "割合(%) / share_percent",
                *[f"{record.name} days" for record in spec.RECORDS],
            ],
            [
                [
                    c.consortium_id,
                    c.participant_id,
                    c.start.isoformat(),
                    c.end.isoformat() if c.end else "",
                    c.period_days,
                    c.days_with_data,
                    _percent(c.share),
                    *[c.days_by_type.get(record.name, 0) for record in spec.RECORDS],
                ]
                for c in report.coverage
            ],
        ),
        (
            "flags",
            ["レコード種別 / record_type", "コード / code", "件数 / records", "割合(%) / share_percent"],
            [[f.record_type, f.code, f.records, _percent(f.share)] for f in report.flags],
        ),
        (
            "out_of_range",
            [
                "レコード種別 / record_type",
                "項目 / field",
                "下限 / low",
                "上限 / high",
                "下限未満 / below",
                "上限超 / above",
            ],
            [[o.record_type, o.field, o.low, o.high, o.below, o.above] for o in report.out_of_range],
        ),
        (
            "devices",
            [
                "レコード種別 / record_type",
                "機器メーカーコード / model_manufacturer_code",
                "機器型番 / model_number",
                "機器名称 / device_name",
                "件数 / records",
                "参加者数 / participants",
                "割合(%) / share_percent",
            ],
            [
                [d.record_type, d.maker, d.model, d.device_name, d.records, d.participants, _percent(d.share)]
                for d in report.devices
            ],
        ),
        (
            "manual_entry",
            [
                "レコード種別 / record_type",
                "件数 / records",
                "手入力(1) / hand_entered",
                "手動修正(2) / hand_corrected",
                "割合(%) / share_percent",
            ],
            [[m.record_type, m.records, m.hand_entered, m.hand_corrected, _percent(m.share)] for m in report.manual],
        ),
    ]
    first = True
    for title, header, rows in sheets:
        sheet = book.active if first else book.create_sheet()
        first = False
        sheet.title = title
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
    info = book.create_sheet("about")
    info.append(["コンソーシアムID / consortium_id", report.consortium_id or "*"])
    info.append(["基準日 / as of", report.today.isoformat()])
    if report.aggregates_only:
        info.append(
            [
                "集計のみ / aggregates only",
                f"参加者 {THRESHOLD} 人未満の集計は表示しません / groups of fewer than {THRESHOLD} participants "
                "are not shown",
            ]
        )
        info.append(["非表示のレコード種別 / suppressed record types", ", ".join(report.suppressed_types)])
        info.append(["非表示の機器グループ / suppressed device groups", report.suppressed_devices])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
