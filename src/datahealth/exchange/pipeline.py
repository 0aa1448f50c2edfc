"""The shapes that flow through the exchange pipeline: read → normalise → check → store.

Every wire format (CSV files, a JSON message, FHIR Observations) is read into a ``RawBatch``: for
each record type one polars DataFrame whose columns are the specification's physical names, all
strings exactly as sent (``None`` where a field was absent or empty), plus ``_source`` (file name or
``message``) and ``_locator`` (``line 12`` or a JSON pointer such as ``/activity/3``). The checker
turns it into a ``CheckedBatch`` of typed, valid records and a list of ``Issue``; the store applies
the resend rules in one transaction. Health values never go to logs: they live only in frames, in
the stored records and in a sender's own error report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from datahealth.errors import Problem

SOURCE = "_source"
LOCATOR = "_locator"
FLAGS = "_flags"
"""In a CheckedBatch frame: space-separated DH-W codes of values stored but flagged."""
META_COLUMNS = (SOURCE, LOCATOR)

Severity = Literal["error", "flag", "info"]
"""``info`` is a notice about the whole batch (DH-X204 duplicate), not a problem with a record."""


@dataclass(frozen=True)
class Issue:
    """One catalogued problem with one record (or with a whole file, then ``record_type`` may be empty)."""

    severity: Severity
    code: str
    source: str
    locator: str
    record_type: str = ""
    field: str = ""
    value: str = ""
    rule: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def problem(self) -> Problem:
        params = {
            "source": self.source,
            "locator": self.locator,
            "record_type": self.record_type,
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            **self.params,
        }
        return Problem(self.code, params, field=self.field or None)

    def message(self, lang: str = "ja") -> str:
        return self.problem().message(lang)


@dataclass
class RawBatch:
    """Records as read from the wire, strings only, before any rule is applied."""

    wire_format: Literal["csv", "json", "fhir"]
    sources: list[str]
    frames: dict[str, pl.DataFrame]
    """Record type name → frame (spec columns as ``pl.String`` + ``_source`` + ``_locator``)."""
    issues: list[Issue] = dataclasses.field(default_factory=list)
    """Structural problems found while reading (encoding, header row, JSON shape, unknown columns)."""
    header: dict[str, str] | None = None
    """The JSON message header (version, send_time, consortium_id, participant_id), if any."""


@dataclass
class CheckedBatch:
    """Valid records, typed, ready to store; and every issue found."""

    frames: dict[str, pl.DataFrame]
    """Record type name → valid rows with typed columns: datetimes as ``pl.Datetime`` (naive, as sent),
    dates as ``pl.Date``, integers as ``pl.Int64``, decimals as ``pl.Decimal(digits, 1)``, strings and
    codes as ``pl.String``; plus ``_source``, ``_locator`` and ``_flags``."""
    issues: list[Issue]
    received: dict[str, int]
    """Rows read per record type (valid or not)."""

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def flags(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "flag"]

    def rejected(self, record_type: str) -> int:
        return self.received.get(record_type, 0) - self.frames.get(record_type, pl.DataFrame()).height
