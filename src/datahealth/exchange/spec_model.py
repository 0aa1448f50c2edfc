"""The vocabulary of the 健康情報等交換規約 as code: field kinds, requirement marks, codes, conditions.

The specification itself (which record types hold which fields) is in ``spec.py``; the validator,
the storage tables, ``docs/exchange-spec.md`` and the JSON Schema are all generated from it, so the
document and the code cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    DATETIME = "datetime14"
    """yyyyMMddHHmmss; unmeasured hour/minute/second are written as 00 (seed)."""
    TIMESTAMP = "timestamp17"
    """yyyyMMddHHmmssSSS (seed: update_time)."""
    DATE = "date8"
    """yyyyMMdd."""
    YEAR_MONTH = "yearmonth6"
    """yyyyMM."""
    INTEGER = "integer"
    """Half-width digits only; ``digits`` is the maximum number of digits."""
    DECIMAL = "decimal"
    """Half-width ``X.X``; ``digits`` counts every character including the point (seed: XXXX.X is 6)."""
    STRING = "string"
    """At most ``digits`` characters; an optional pattern restricts the characters."""
    CODE = "code"
    """One of ``codes``."""


class Need(StrEnum):
    REQUIRED = "●"
    CONDITIONAL = "▲"
    OPTIONAL = ""


class Source(StrEnum):
    SEED_TABLE = "seed-table"
    """Transcribed from the seed's 交換規約で取り扱うデータ項目詳細 table (name, type, digits, mark)."""
    SEED_LIST = "seed-list"
    """Named in the seed's lists of registry/record contents; physical name, type and digits defined here."""
    DEFINED = "defined"
    """Not in the seed; added here to make the specification complete (reason in the note)."""


@dataclass(frozen=True)
class Code:
    value: str
    ja: str
    en: str


@dataclass(frozen=True)
class Condition:
    """When a ▲ field is required. Exactly one of the three forms is used.

    - ``device_measures``: the device's registry entry lists this field in ``measured_items``
      (the seed's 「計測している場合のみ入力」 made checkable);
    - ``device_category``: the device's registry category is one of these codes;
    - ``field`` + ``values``: another field of the same record has one of these values.
    """

    ja: str
    en: str
    device_measures: bool = False
    device_category: tuple[str, ...] = ()
    field: str = ""
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    name: str
    """Physical name (物理名), the CSV column and JSON key."""
    ja: str
    en: str
    kind: Kind
    digits: int
    need: Need
    source: Source
    unit: str = ""
    codes: tuple[Code, ...] = ()
    condition: Condition | None = None
    pattern: str = ""
    """For strings: a regular expression every value must match in full."""
    plausible: tuple[float | None, float | None] | None = None
    """Values outside this closed range are stored but flagged as physiologically implausible."""
    note_ja: str = ""
    note_en: str = ""

    @property
    def scale(self) -> int:
        """Decimal places of a DECIMAL field (always 1 in this specification: XXXX.X, XXX.X, XX.X)."""
        return 1 if self.kind == Kind.DECIMAL else 0

    @property
    def code_values(self) -> frozenset[str]:
        return frozenset(code.value for code in self.codes)


class RecordKind(StrEnum):
    REGISTRY = "registry"
    """事前登録が必要となる情報: sent before records and referred to by them."""
    RECORD = "record"
    """各コンソーシアムが交換規約で提供する情報: the health data itself."""


@dataclass(frozen=True)
class RecordType:
    name: str
    """Physical name of the record type: CSV file stem (``activity.csv``) and JSON array key."""
    ja: str
    en: str
    kind: RecordKind
    fields: tuple[Field, ...]
    identity: tuple[str, ...]
    """Fields that identify one record: a resend with the same identity replaces or conflicts."""
    source: Source
    note_ja: str = ""
    note_en: str = ""
    fhir: str = ""
    """How the record maps to FHIR (documentation)."""
    cross_checks: tuple[str, ...] = ()
    """Rules that involve more than one field or a registry, by error code (documentation)."""

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name}.{name}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
