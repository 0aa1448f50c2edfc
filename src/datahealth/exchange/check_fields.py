"""Rules for one field at a time, as polars expressions over a whole column (see ``check.py``).

Each field is checked over its whole column of strings as sent, in three steps:

- ``add_typed``: the value in its stored type (every row; kept for valid rows). Dates and times are
  read with integer arithmetic over the column (``calendar``), which also tells whether they exist;
- ``form_ok``: true where a present value is valid (cheap, every row);
- ``detail_code``: which catalogued rule a present value breaks first (rejected rows only).

Decisions (documented in docs/exchange-spec.md by the spec engineer, tested in tests/exchange):

- Digits are counted on the value as sent: ``00012`` has five digits.
- Full-width digits (０-９) are DH-X107 before any other rule, in every numeric, date and code field
  and in every string field whose pattern is ASCII-only (IDs, device codes).
- Integer fields: half-width digits only, no sign, at most ``digits`` digits. A decimal point
  (``12.0``, ``12.5``, ``12.``) is DH-X105; a sign is DH-X118; anything else that is not digits is
  DH-X117; too many digits is DH-X102.
- Decimal fields ``X.X`` (``digits`` counts the point, so ``XXXX.X`` is 6): up to ``digits - 2``
  integer digits and at most one decimal. A whole number without a point (``2000``) is accepted and
  stored as ``2000.0`` (exact, the same value). More than one decimal (``65.25``) is DH-X118 rather
  than rounded, since rounding would change what was sent; a sign, a leading or trailing point is
  DH-X118; too many integer digits is DH-X102. Values are cast to ``Decimal(digits, 1)``: exact.
- Dates and times: half-width digits of exactly the format's length (other characters: DH-X118,
  other length: DH-X102); a calendar date and clock time that exist, from year 1900 on (DH-X103);
  times and year-months that happened (observation_time, update_time, birth_year_month) must not lie
  after the receipt time in Japan time plus ``CLOCK_SKEW`` (DH-X104). Participation dates may lie in
  the future; a JSON header's send_time is checked for form only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from datahealth.exchange.spec_model import Field, Kind

FULL_WIDTH_DIGIT = "[０-９]"
CLOCK_SKEW = timedelta(minutes=5)
"""Device and server clocks drift: a time up to five minutes after receipt is not yet 'future'."""
MIN_YEAR = 1900

DATE_FORMATS: dict[Kind, tuple[str, int]] = {
    Kind.DATETIME: ("yyyyMMddHHmmss", 14),
    Kind.TIMESTAMP: ("yyyyMMddHHmmssSSS", 17),
    Kind.DATE: ("yyyyMMdd", 8),
    Kind.YEAR_MONTH: ("yyyyMM", 6),
}
"""Notation and length of each date/time kind."""
HAPPENED = (Kind.DATETIME, Kind.TIMESTAMP, Kind.YEAR_MONTH)
"""Kinds whose values record something that already happened: a future value is DH-X104."""


def output_dtype(field: Field) -> pl.DataType:
    """The type of the field's column in a ``CheckedBatch`` frame."""
    if field.kind in (Kind.DATETIME, Kind.TIMESTAMP):
        return pl.Datetime("us")
    if field.kind == Kind.DATE:
        return pl.Date()
    if field.kind == Kind.INTEGER:
        return pl.Int64()
    if field.kind == Kind.DECIMAL:
        return pl.Decimal(field.digits, field.scale)
    return pl.String()


def is_typed(field: Field) -> bool:
    """Whether the stored value differs in type from the string sent."""
    return field.kind in (Kind.DATETIME, Kind.TIMESTAMP, Kind.DATE, Kind.INTEGER, Kind.DECIMAL)


def integer_digits(field: Field) -> int:
    """Integer digits a DECIMAL field may have (``XXXX.X`` → 4)."""
    return field.digits - field.scale - 1


def digits(col: pl.Expr) -> pl.Expr:
    """The integer an all-ASCII-digit string spells (``Int64``), else null (signs, spaces, points …)."""
    number = col.cast(pl.UInt64, strict=False).cast(pl.Int64, strict=False)
    return pl.when(col.str.starts_with("+")).then(pl.lit(None, dtype=pl.Int64)).otherwise(number)


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 0], dtype=np.int64)


def calendar(kind: Kind, number: pl.Series) -> pl.Series:
    """The date/time the digits of a ``DATE_FORMATS`` value spell (``number``: the digits as an integer), or
    null where it does not exist or lies before ``MIN_YEAR``. Whole-column integer arithmetic in numpy (days
    from civil), several times faster than ``strptime`` or the same arithmetic as polars expressions."""
    valid = number.is_not_null().to_numpy()
    value = number.fill_null(0).to_numpy().astype(np.int64, copy=False)
    millis = np.zeros_like(value)
    seconds = np.zeros_like(value)
    if kind == Kind.TIMESTAMP:
        millis, value = value % 1000, value // 1000
    if kind in (Kind.DATETIME, Kind.TIMESTAMP):
        clock, value = value % 1_000_000, value // 1_000_000
        hour, minute, second = clock // 10_000, clock // 100 % 100, clock % 100
        valid &= (hour < 24) & (minute < 60) & (second < 60)
        seconds = hour * 3600 + minute * 60 + second
    elif kind == Kind.YEAR_MONTH:
        value = value * 100 + 1
    year, month, day = value // 10_000, value // 100 % 100, value % 100
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = _MONTH_DAYS[np.clip(month, 0, 13)] + ((month == 2) & leap)
    valid &= (year >= MIN_YEAR) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146_097 + year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year - 719_468
    if kind in (Kind.DATE, Kind.YEAR_MONTH):
        values = pl.Series(np.where(valid, days, 0).astype(np.int32)).cast(pl.Date)
    else:
        values = pl.Series(np.where(valid, (days * 86_400 + seconds) * 1_000_000 + millis * 1_000, 0)).cast(
            pl.Datetime("us")
        )
    return pl.select(pl.when(pl.lit(pl.Series(valid))).then(pl.lit(values))).to_series()


def add_typed(fields: Sequence[Field], frame: pl.DataFrame, name: Callable[[str], str]) -> pl.DataFrame:
    """``frame`` with the typed value of each field as column ``name(field)`` (null where unreadable; for
    dates and times also where the date does not exist)."""
    dates = [field for field in fields if field.kind in DATE_FORMATS]
    numbers = frame.select(
        pl.when(pl.col(field.name).str.len_bytes() == DATE_FORMATS[field.kind][1])
        .then(digits(pl.col(field.name)))
        .alias(field.name)
        for field in dates
    )
    columns = [calendar(field.kind, numbers[field.name]).alias(name(field.name)) for field in dates]
    others = [typed(field, pl.col(field.name)).alias(name(field.name)) for field in fields if field not in dates]
    return frame.with_columns(columns).with_columns(others)


def typed(field: Field, col: pl.Expr) -> pl.Expr:
    """The value of an integer or decimal field in its stored type; null where it cannot be read."""
    if field.kind == Kind.INTEGER:
        return digits(col)
    if field.kind == Kind.DECIMAL:
        return col.cast(pl.Decimal(field.digits, field.scale), strict=False)
    return col


def _pattern(field: Field) -> str:
    return f"^(?:{field.pattern})$"


def _future(field: Field, value: pl.Expr, now_jst: datetime | None) -> pl.Expr:
    if now_jst is None or field.kind not in HAPPENED:
        return pl.lit(False)
    limit = now_jst + CLOCK_SKEW
    if field.kind == Kind.YEAR_MONTH:
        return value > pl.lit(limit.date().replace(day=1))
    return value > pl.lit(limit.replace(tzinfo=None))


def form_ok(field: Field, col: pl.Expr, value: pl.Expr, now_jst: datetime | None) -> pl.Expr:
    """True where a present value satisfies every rule of its field (``value`` is ``typed(field, col)``)."""
    kind = field.kind
    if kind == Kind.INTEGER:
        return value.is_not_null() & (col.str.len_bytes() <= field.digits)
    if kind == Kind.DECIMAL:
        return col.str.contains(f"^[0-9]{{1,{integer_digits(field)}}}(?:\\.[0-9]{{1,{field.scale}}})?$")
    if kind == Kind.CODE:
        return col.is_in(sorted(field.code_values))
    if kind in DATE_FORMATS:
        return value.is_not_null() & ~_future(field, value, now_jst)
    ok = col.str.len_chars() <= field.digits
    if field.pattern:
        ok = ok & col.str.contains(_pattern(field))
    return ok


def detail_code(field: Field, col: pl.Expr, value: pl.Expr, now_jst: datetime | None) -> pl.Expr:
    """The code of the first rule a present value breaks, or null (see the module docstring for the order)."""
    kind = field.kind
    full_width = col.str.contains(FULL_WIDTH_DIGIT)
    if kind == Kind.STRING:
        chain: Any = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
        if field.pattern:
            chain = chain.when(full_width & ~col.str.contains(_pattern(field))).then(pl.lit("DH-X107"))
        chain = chain.when(col.str.len_chars() > field.digits).then(pl.lit("DH-X102"))
        if field.pattern:
            chain = chain.when(~col.str.contains(_pattern(field))).then(pl.lit("DH-X118"))
        result: pl.Expr = chain.otherwise(pl.lit(None, dtype=pl.String))
        return result
    start: Any = pl.when(full_width).then(pl.lit("DH-X107"))
    if kind == Kind.INTEGER:
        chain = (
            start.when(col.str.contains(r"^[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)$"))
            .then(pl.lit("DH-X105"))
            .when(col.str.contains(r"^[+-][0-9]+$"))
            .then(pl.lit("DH-X118"))
            .when(~col.str.contains(r"^[0-9]+$"))
            .then(pl.lit("DH-X117"))
            .when(col.str.len_bytes() > field.digits)
            .then(pl.lit("DH-X102"))
        )
    elif kind == Kind.DECIMAL:
        whole = col.str.split(".").list.first().str.len_bytes()
        fraction = col.str.split(".").list.get(1, null_on_oob=True).str.len_bytes().fill_null(0)
        chain = (
            start.when(~col.str.contains(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"))
            .then(pl.lit("DH-X117"))
            .when(~col.str.contains(r"^[0-9]+(?:\.[0-9]+)?$"))
            .then(pl.lit("DH-X118"))
            .when(whole > integer_digits(field))
            .then(pl.lit("DH-X102"))
            .when(fraction > field.scale)
            .then(pl.lit("DH-X118"))
        )
    elif kind == Kind.CODE:
        chain = start.when(~col.is_in(sorted(field.code_values))).then(pl.lit("DH-X106"))
    else:
        _, length = DATE_FORMATS[kind]
        chain = (
            start.when(~col.str.contains("^[0-9]+$"))
            .then(pl.lit("DH-X118"))
            .when(col.str.len_bytes() != length)
            .then(pl.lit("DH-X102"))
            .when(value.is_null())
            .then(pl.lit("DH-X103"))
            .when(_future(field, value, now_jst))
            .then(pl.lit("DH-X104"))
        )
    code: pl.Expr = chain.otherwise(pl.lit(None, dtype=pl.String))
    return code


def _integer_rule(field: Field) -> str:
    return f"整数 {field.digits} 桁以内 / integer, up to {field.digits} digits"


def decimal_rule(field: Field) -> str:
    """``XXXX.X`` for a DECIMAL field of 6 digits."""
    return "X" * integer_digits(field) + "." + "X" * field.scale


def code_rule(field: Field) -> str:
    return "/".join(code.value for code in field.codes)


@functools.cache
def rule_for(field: Field, code: str) -> str:
    """The rule text an issue with ``code`` on ``field`` quotes."""
    kind = field.kind
    if code == "DH-X101":
        return "必須 ● / required ●"
    if code == "DH-X107":
        return "半角数字 / half-width digits"
    if code == "DH-X108" and field.condition is not None:
        return f"{field.condition.ja} / {field.condition.en}"
    if code == "DH-X106":
        return code_rule(field)
    if kind in DATE_FORMATS:
        notation = DATE_FORMATS[kind][0]
        if code == "DH-X103":
            return f"{notation}, {MIN_YEAR}–"
        if code == "DH-X104":
            minutes = int(CLOCK_SKEW.total_seconds() // 60)
            return f"受付時刻（日本時間）＋{minutes} 分まで / at most {minutes} minutes after receipt (Japan time)"
        return notation
    if kind == Kind.INTEGER:
        return _integer_rule(field)
    if kind == Kind.DECIMAL:
        return decimal_rule(field)
    if code == "DH-X102":
        return f"{field.digits} 文字以内 / up to {field.digits} characters"
    return f"形式 / pattern {_pattern(field)}"
