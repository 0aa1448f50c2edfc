"""Time: services take ``now`` (aware UTC) from the caller; people see Japan Standard Time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def jst_date(moment: datetime) -> date:
    return moment.astimezone(JST).date()


def format_jst(moment: datetime | None, with_seconds: bool = False) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(JST)
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M") + " JST"
