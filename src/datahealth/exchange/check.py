"""The checker: every rule of the specification applied to a ``RawBatch``, vectorised with polars.

For each record type the frame of strings goes through three passes of column expressions over
every row (no Python per row): the typed value of each field, whether each field is valid
(``check_fields``), and whether each cross-field or registry rule holds (``check_cross``). A row is
valid when all of them are; valid rows become the typed frame of the ``CheckedBatch``. Only the
rejected rows are then examined again to name, per field, the first rule broken; issues (Python
objects) are built from those rows only, so a million valid rows create no per-row objects.

Decisions:

- A row with any error is rejected, and every error of that row is reported (at most one per field:
  the first rule that field breaks; cross rules only where the fields they use are valid).
- Registries in the same batch count: registry types are checked first (consortium, device, HbA1c
  method, participant, lab, activity recording), and their valid rows are merged into the snapshot
  the records of the batch are checked against (``registry.merge_registry``).
- Duplicates (DH-X120): among the rows that pass every other rule, the first row (in file/message
  order) of an identity is kept; each later row with the same identity is rejected with DH-X120
  naming the first one's place. Rows rejected for other reasons do not count as occurrences.
  Duplicates across streamed chunks are left to the store's resend rule.
- Implausible but valid values are kept and flagged (DH-W201 outside the field's plausible range,
  DH-W202 systolic ≤ diastolic); ``_flags`` lists the codes, space-separated (``""`` when none).
  Flags are reported for stored rows only.
- ``now`` is the receipt time (aware; a naive value is taken as UTC); future times are judged in
  Japan time with ``check_fields.CLOCK_SKEW`` of tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from datahealth.clock import JST
from datahealth.exchange import spec
from datahealth.exchange.check_cross import CrossRule, add_context, condition_holds, ok_name, rules, typed_name
from datahealth.exchange.check_fields import add_typed, detail_code, form_ok, is_typed, rule_for
from datahealth.exchange.pipeline import FLAGS, LOCATOR, SOURCE, CheckedBatch, Issue, RawBatch
from datahealth.exchange.registry import RegistrySnapshot, merge_registry
from datahealth.exchange.spec_model import Field, Kind, Need, RecordKind, RecordType

ORDER: tuple[RecordType, ...] = (
    spec.CONSORTIUM,
    spec.DEVICE,
    spec.HBA1C_METHOD,
    spec.PARTICIPANT,
    spec.LAB,
    spec.ACTIVITY_RECORDING,
    *spec.RECORDS,
)
"""Registries before records, and each registry before the ones that refer to it."""
ROW = "__row"
VALID = "__valid"
MAX_VALUE = 100
"""Values quoted in issues are cut to this many characters."""


def japan_time(now: datetime) -> datetime:
    """``now`` as naive Japan local time, the clock every time in the specification is written in."""
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return aware.astimezone(JST).replace(tzinfo=None)


def check(raw: RawBatch, registry: RegistrySnapshot, *, sender: str | None, now: datetime) -> CheckedBatch:
    """Check every frame of ``raw``; ``sender`` is the authenticated consortium (None: the secretariat)."""
    now_jst = japan_time(now)
    snapshot = registry
    frames: dict[str, pl.DataFrame] = {}
    issues: list[Issue] = list(raw.issues)
    received = _reader_rejects(raw.issues)
    for record in ORDER:
        frame = raw.frames.get(record.name)
        if frame is None:
            continue
        valid, found = check_frame(record, frame, snapshot, sender=sender, now_jst=now_jst)
        frames[record.name] = valid
        issues.extend(found)
        received[record.name] = received.get(record.name, 0) + frame.height
        if record.kind == RecordKind.REGISTRY and valid.height:
            snapshot = merge_registry(snapshot, CheckedBatch({record.name: valid}, [], {}))
    return CheckedBatch(frames, issues, received)


def _reader_rejects(issues: Iterable[Issue]) -> dict[str, int]:
    """Records the reader already rejected (issues carrying ``params["record"]``), per record type."""
    seen: dict[str, set[tuple[str, str]]] = {}
    for issue in issues:
        record = issue.params.get("record")
        if issue.severity == "error" and issue.record_type and isinstance(record, str):
            seen.setdefault(issue.record_type, set()).add((issue.source, record))
    return {name: len(records) for name, records in seen.items()}


@dataclass(frozen=True)
class _Located:
    row: int
    position: int
    issue: Issue


def check_frame(
    record: RecordType, frame: pl.DataFrame, registry: RegistrySnapshot, *, sender: str | None, now_jst: datetime
) -> tuple[pl.DataFrame, list[Issue]]:
    """Valid rows of one record type, typed, and the issues of the others (errors first, then flags)."""
    data = add_context(record, _normalise(record, frame), registry)
    cross = rules(record, registry, sender)
    plausible = _plausibility(record)
    data = (
        add_typed(_typed_fields(record), data, typed_name)
        .lazy()
        .with_columns(_field_ok(record, field, now_jst).alias(ok_name(field.name)) for field in record.fields)
        .with_columns(
            *(rule.mask.fill_null(False).alias(_cross_name(i)) for i, rule in enumerate(cross)),
            *(outside.alias(name) for name, _, outside in plausible),
        )
        .with_columns(
            pl.all_horizontal(
                *(pl.col(ok_name(field.name)) for field in record.fields),
                *(~pl.col(_cross_name(i)) for i in range(len(cross))),
            ).alias(VALID),
            _flags_expr(plausible).alias(FLAGS),
        )
        .collect()
    )
    bad = data.filter(~pl.col(VALID))
    located = _error_issues(record, bad, cross, now_jst)
    kept = [
        *((pl.col(typed_name(f.name)) if is_typed(f) else pl.col(f.name)).alias(f.name) for f in record.fields),
        pl.col(SOURCE),
        pl.col(LOCATOR),
        pl.col(FLAGS),
        pl.col(ROW),
    ]
    good = data.select(kept) if bad.height == 0 else data.select(*kept, VALID).filter(pl.col(VALID)).drop(VALID)
    good, duplicates = _deduplicate(record, good)
    located.extend(duplicates)
    located.sort(key=lambda item: (item.row, item.position))
    flags = _flag_issues(record, data, good, plausible)
    return good.drop(ROW), [item.issue for item in (*located, *flags)]


def _typed_fields(record: RecordType) -> list[Field]:
    return [field for field in record.fields if field.kind not in (Kind.STRING, Kind.CODE)]


def _value_expr(field: Field) -> pl.Expr:
    return pl.col(typed_name(field.name)) if field.kind not in (Kind.STRING, Kind.CODE) else pl.col(field.name)


def _cross_name(index: int) -> str:
    return f"__x:{index}"


def _normalise(record: RecordType, frame: pl.DataFrame) -> pl.DataFrame:
    """All the record type's columns as strings (absent → null, ``""`` → null), meta columns, a row index."""
    present = set(frame.columns)
    columns: list[pl.Expr] = []
    for field in record.fields:
        if field.name in present:
            text = pl.col(field.name).cast(pl.String)
            columns.append(pl.when(text.str.len_bytes() > 0).then(text).alias(field.name))
        else:
            columns.append(pl.lit(None, dtype=pl.String).alias(field.name))
    source = pl.col(SOURCE).cast(pl.String) if SOURCE in present else pl.lit("", dtype=pl.String)
    locator = (
        pl.col(LOCATOR).cast(pl.String)
        if LOCATOR in present
        else pl.format("row {}", pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    )
    return frame.select(
        *columns, source.alias(SOURCE), locator.alias(LOCATOR), pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW)
    )


def _field_ok(record: RecordType, field: Field, now_jst: datetime) -> pl.Expr:
    col = pl.col(field.name)
    valid = (col.is_null() | form_ok(field, col, _value_expr(field), now_jst)).fill_null(False)
    if field.need == Need.REQUIRED:
        return valid & col.is_not_null()
    if field.need == Need.CONDITIONAL:
        return valid & ~(col.is_null() & condition_holds(record, field))
    return valid


def _error_issues(
    record: RecordType, bad: pl.DataFrame, cross: list[CrossRule], now_jst: datetime | None
) -> list[_Located]:
    if bad.height == 0:
        return []
    codes: list[pl.Expr] = []
    for field in record.fields:
        col = pl.col(field.name)
        if field.need == Need.REQUIRED:
            missing: pl.Expr = pl.lit("DH-X101")
        elif field.need == Need.CONDITIONAL:
            missing = pl.when(condition_holds(record, field)).then(pl.lit("DH-X108"))
        else:
            missing = pl.lit(None, dtype=pl.String)
        detail = detail_code(field, col, _value_expr(field), now_jst)
        # Should the detailed cascade ever disagree with the fast check, the row still gets a catalogued error.
        fallback = pl.when(~pl.col(ok_name(field.name))).then(pl.lit("DH-X118"))
        code = pl.when(col.is_null()).then(missing).otherwise(pl.coalesce(detail, fallback))
        codes.append(code.alias(f"__code:{field.name}"))
    coded = bad.with_columns(codes)
    located: list[_Located] = []
    for position, field in enumerate(record.fields):
        rows = coded.filter(pl.col(f"__code:{field.name}").is_not_null()).select(
            ROW, SOURCE, LOCATOR, pl.col(f"__code:{field.name}"), pl.col(field.name)
        )
        for row, source, locator, code, value in rows.iter_rows():
            issue = _issue(record, "error", code, source, locator, field.name, value, rule_for(field, code))
            located.append(_Located(row, position, issue))
    for index, rule in enumerate(cross):
        position = record.names.index(rule.field)
        rows = coded.filter(pl.col(_cross_name(index))).select(
            ROW, SOURCE, LOCATOR, rule.value.cast(pl.String).alias("value"), rule.rule.cast(pl.String).alias("rule")
        )
        for row, source, locator, value, text in rows.iter_rows():
            located.append(
                _Located(row, position, _issue(record, "error", rule.code, source, locator, rule.field, value, text))
            )
    return located


def _issue(
    record: RecordType,
    severity: Any,
    code: str,
    source: str,
    locator: str,
    field: str,
    value: str | None,
    rule: str | None,
) -> Issue:
    text = value or ""
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return Issue(severity, code, source, locator, record_type=record.name, field=field, value=text, rule=rule or "")


def _deduplicate(record: RecordType, good: pl.DataFrame) -> tuple[pl.DataFrame, list[_Located]]:
    """Keep the first row of each identity; later ones are DH-X120 (see the module docstring)."""
    identity = list(record.identity)
    if not identity or good.height < 2:
        return good, []
    # Rows unique in part of the identity are unique in all of it: try the cheap part first (typed, so
    # integers are hashed rather than strings); then a hash of the whole identity; exact comparison only
    # among rows whose hashes collide.
    part = [name for name in ("observation_time", "participant_id") if name in identity]
    if part and part != identity and good.select(pl.struct(part).hash(7).n_unique()).item() == good.height:
        return good, []
    hashed = good.select(
        pl.reduce(lambda a, b: a ^ b, [pl.col(name).hash(seed + 1) for seed, name in enumerate(identity)]).alias("h")
    )["h"]
    if hashed.n_unique() == good.height:
        return good, []
    candidates = good.filter(hashed.is_duplicated())
    first = candidates.select(pl.struct(identity).is_first_distinct()).to_series()
    if first.all():
        return good, []
    firsts = candidates.filter(first).select(
        *identity, pl.col(SOURCE).alias("__first_source"), pl.col(LOCATOR).alias("__first")
    )
    repeats = candidates.filter(~first).join(firsts, on=identity, how="left", maintain_order="left")
    rule = ", ".join(identity)
    position = len(record.fields)
    located: list[_Located] = []
    for row, source, locator, first_source, first_locator in repeats.select(
        ROW, SOURCE, LOCATOR, "__first_source", "__first"
    ).iter_rows():
        where = first_locator if first_source == source else f"{first_source} {first_locator}"
        located.append(_Located(row, position, _issue(record, "error", "DH-X120", source, locator, "", where, rule)))
    dropped = repeats[ROW].implode()
    return good.filter(~pl.col(ROW).is_in(dropped)), located


def _number(value: float) -> str:
    return f"{value:g}"


def _plausibility(record: RecordType) -> list[tuple[str, Field | None, pl.Expr]]:
    """(column, field, expression true where implausible): one per field with a range, and systolic ≤ diastolic."""
    checks: list[tuple[str, Field | None, pl.Expr]] = []
    for field in record.fields:
        if field.plausible is None:
            continue
        low, high = field.plausible
        value = pl.col(typed_name(field.name))
        if field.kind == Kind.DECIMAL:
            value = value.cast(pl.Float64)
        outside = pl.lit(False)
        if low is not None:
            outside = outside | (value < low)
        if high is not None:
            outside = outside | (value > high)
        checks.append((f"__w201:{field.name}", field, outside.fill_null(False)))
    if {"systolic_bp", "diastolic_bp"} <= set(record.names):
        inverted = pl.col(typed_name("systolic_bp")) <= pl.col(typed_name("diastolic_bp"))
        checks.append(("__w202", None, inverted.fill_null(False)))
    return checks


def _flags_expr(plausible: list[tuple[str, Field | None, pl.Expr]]) -> pl.Expr:
    w201 = [pl.col(name) for name, field, _ in plausible if field is not None]
    w202 = [pl.col(name) for name, field, _ in plausible if field is None]
    any201 = pl.any_horizontal(*w201) if w201 else pl.lit(False)
    any202 = w202[0] if w202 else pl.lit(False)
    return (
        pl.when(any201 & any202)
        .then(pl.lit("DH-W201 DH-W202"))
        .when(any201)
        .then(pl.lit("DH-W201"))
        .when(any202)
        .then(pl.lit("DH-W202"))
        .otherwise(pl.lit(""))
    )


def _flag_issues(
    record: RecordType, data: pl.DataFrame, good: pl.DataFrame, plausible: list[tuple[str, Field | None, pl.Expr]]
) -> list[_Located]:
    """Flag issues of the stored rows (values as sent are looked up by row in ``data``)."""
    flagged = good.filter(pl.col(FLAGS) != "")[ROW]
    if flagged.is_empty():
        return []
    rows = data[flagged.to_list()]
    located: list[_Located] = []
    for name, field, _ in plausible:
        if field is None:
            position = record.names.index("systolic_bp")
            selected = rows.filter(pl.col(name)).select(ROW, SOURCE, LOCATOR, "systolic_bp", "diastolic_bp")
            for row, source, locator, systolic, diastolic in selected.iter_rows():
                value = f"{systolic}/{diastolic}"
                issue = _issue(
                    record, "flag", "DH-W202", source, locator, "systolic_bp", value, "systolic_bp > diastolic_bp"
                )
                located.append(_Located(row, position, issue))
            continue
        low, high = field.plausible or (None, None)
        rule = f"{'' if low is None else _number(low)}–{'' if high is None else _number(high)}"
        position = record.names.index(field.name)
        for row, source, locator, value in (
            rows.filter(pl.col(name)).select(ROW, SOURCE, LOCATOR, field.name).iter_rows()
        ):
            located.append(
                _Located(row, position, _issue(record, "flag", "DH-W201", source, locator, field.name, value, rule))
            )
    located.sort(key=lambda item: (item.row, item.position))
    return located


def field_issues(record: RecordType, frame: pl.DataFrame, now_jst: datetime | None) -> list[Issue]:
    """Field-level errors only (no registry), e.g. for a JSON message header; ``now_jst`` None skips the future."""
    data = add_typed(_typed_fields(record), _normalise(record, frame), typed_name)
    data = data.with_columns(
        (pl.col(f.name).is_null() | form_ok(f, pl.col(f.name), _value_expr(f), now_jst))
        .fill_null(False)
        .alias(ok_name(f.name))
        for f in record.fields
    )
    located = _error_issues(record, data, [], now_jst)
    located.sort(key=lambda item: (item.row, item.position))
    return [item.issue for item in located]
