"""Rules that involve more than one field or a registry, as polars expressions (see ``check.py``).

The registry facts a record needs (is the device registered, does it measure this ▲ field, the
participant's period …) are joined onto the records once (``add_context``); each rule is then a
boolean column, true where the rule is broken. A rule is only evaluated where the fields it uses
are themselves valid, so one mistake gives one error (an unregistered consortium is DH-X109, not
also DH-X110 for each of its participants).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datahealth.exchange import spec
from datahealth.exchange.registry import RegistrySnapshot
from datahealth.exchange.spec_model import Field, RecordKind, RecordType

DEVICE_KNOWN = "__device_known"
DEVICE_CATEGORY = "__device_category"
PARTICIPANT_KNOWN = "__participant_known"
PARTICIPANT_START = "__participant_start"
PARTICIPANT_END = "__participant_end"
LAB_KNOWN = "__lab_known"
HASH = "__hash"
INDEX = "__index"
DEVICE_KEYS = ["model_manufacturer_code", "model_number"]
PARTICIPANT_KEYS = ["consortium_id", "participant_id"]
LAB_KEYS = ["consortium_id", "lab_id"]
MEASURED_ITEMS = frozenset(
    field.name
    for record in spec.RECORDS
    for field in record.fields
    if field.condition is not None and field.condition.device_measures
)
"""The ▲ items a device registry entry may list in measured_items."""


def typed_name(field: str) -> str:
    return f"__t:{field}"


def ok_name(field: str) -> str:
    return f"__ok:{field}"


def needs_name(field: str) -> str:
    return f"__needs:{field}"


@dataclass(frozen=True)
class CrossRule:
    code: str
    field: str
    mask: pl.Expr
    """True where the rule is broken."""
    value: pl.Expr
    rule: pl.Expr


def refers_to_devices(record: RecordType) -> bool:
    return record is not spec.DEVICE and set(DEVICE_KEYS) <= set(record.names)


def refers_to_participants(record: RecordType) -> bool:
    return record.kind == RecordKind.RECORD and "participant_id" in record.names


def refers_to_labs(record: RecordType) -> bool:
    return record is not spec.LAB and "lab_id" in record.names


def add_context(record: RecordType, frame: pl.DataFrame, registry: RegistrySnapshot) -> pl.DataFrame:
    """Join the registry facts ``record``'s rules need onto ``frame`` (row order kept, one row per row)."""
    if refers_to_devices(record):
        needs = {needs_name(field.name): _needs_on_device(field) for field in _device_conditions(record)}
        frame = lookup(
            frame,
            registry.devices,
            DEVICE_KEYS,
            DEVICE_KNOWN,
            {DEVICE_CATEGORY: pl.col("device_category_code"), **needs},
        )
    if refers_to_participants(record):
        facts = {
            PARTICIPANT_START: pl.col("participation_start_date"),
            PARTICIPANT_END: pl.col("participation_end_date"),
        }
        frame = lookup(frame, registry.participants, PARTICIPANT_KEYS, PARTICIPANT_KNOWN, facts)
    if refers_to_labs(record):
        frame = lookup(frame, registry.labs, LAB_KEYS, LAB_KNOWN, {})
    return frame


def lookup(
    frame: pl.DataFrame, table: pl.DataFrame, keys: list[str], known: str, facts: dict[str, pl.Expr]
) -> pl.DataFrame:
    """Add ``facts`` of ``table`` (computed on the table) to ``frame`` by ``keys``; ``known`` says whether a
    row's keys are in the table. Matches on a 64-bit hash of the keys through a one-column join (joining the
    wide frame on strings costs several times more), then compares the keys themselves, so a hash collision
    can never give a wrong match."""
    seed = 20_250_101
    entries = table.unique(subset=keys, keep="last", maintain_order=True).with_row_index(INDEX)
    hashes = entries.select(pl.struct(keys).hash(seed).alias(HASH), INDEX)
    if hashes[HASH].n_unique() != hashes.height:  # two entries share a hash: match on the strings instead
        probe = frame.select(keys).join(entries.select(*keys, INDEX), on=keys, how="left", maintain_order="left")
    else:
        probe = frame.select(pl.struct(keys).hash(seed).alias(HASH)).join(
            hashes, on=HASH, how="left", maintain_order="left"
        )
    index = probe[INDEX]
    found = entries.select(*keys, *(expression.alias(name) for name, expression in facts.items()))[index]
    match = pl.all_horizontal(*((frame[key] == found[key]).fill_null(False) for key in keys))
    matched = frame.select(match.alias(known))[known]
    columns = [matched, *(found.select(pl.when(matched).then(pl.col(name)).alias(name))[name] for name in facts)]
    return frame.with_columns(columns)


def _device_conditions(record: RecordType) -> list[Field]:
    return [
        field
        for field in record.fields
        if field.condition is not None and (field.condition.device_measures or field.condition.device_category)
    ]


def _needs_on_device(field: Field) -> pl.Expr:
    """On the device list: does a device of this entry need ``field`` (its ▲ condition holds)?"""
    assert field.condition is not None  # noqa: S101 - callers pass conditional fields only  # nosec B101
    if field.condition.device_measures:
        return pl.col("measured_items").str.contains(f"(?:^| ){field.name}(?: |$)").fill_null(False)
    return pl.col("device_category_code").is_in(list(field.condition.device_category)).fill_null(False)


def condition_holds(record: RecordType, field: Field) -> pl.Expr:
    """True where the ▲ field's condition holds for the row (false where it cannot be told)."""
    condition = field.condition
    if condition is None:
        return pl.lit(False)
    if condition.device_measures or condition.device_category:
        if not refers_to_devices(record):
            return pl.lit(False)
        return pl.col(needs_name(field.name)).fill_null(False)
    if condition.field:
        return pl.col(condition.field).is_in(list(condition.values)).fill_null(False)
    return pl.lit(False)


def _valid(name: str) -> pl.Expr:
    return pl.col(name).is_not_null() & pl.col(ok_name(name))


def _text(text: str) -> pl.Expr:
    return pl.lit(text, dtype=pl.String)


def rules(record: RecordType, registry: RegistrySnapshot, sender: str | None) -> list[CrossRule]:
    """Every cross-field and registry rule that applies to ``record``."""
    names = set(record.names)
    found: list[CrossRule] = []
    consortium_fine = pl.lit(True)
    if "consortium_id" in names:
        consortium = pl.col("consortium_id")
        registered = pl.lit(True) if record is spec.CONSORTIUM else consortium.is_in(sorted(registry.consortia))
        own = pl.lit(True) if sender is None else consortium == pl.lit(sender)
        consortium_fine = _valid("consortium_id") & registered & own
        found.append(
            CrossRule(
                "DH-X109",
                "consortium_id",
                _valid("consortium_id") & ~(registered & own),
                consortium,
                _text("コンソーシアムリスト・送信者 / consortium list, sender"),
            )
        )
    if refers_to_participants(record):
        found.append(
            CrossRule(
                "DH-X110",
                "participant_id",
                consortium_fine & _valid("participant_id") & ~pl.col(PARTICIPANT_KNOWN),
                pl.col("participant_id"),
                _text("参加者リスト / participant list"),
            )
        )
        if "observation_time" in names:
            day = pl.col(typed_name("observation_time")).dt.date()
            start, end = pl.col(PARTICIPANT_START), pl.col(PARTICIPANT_END)
            outside = (day < start) | (end.is_not_null() & (day > end))
            found.append(
                CrossRule(
                    "DH-X113",
                    "observation_time",
                    consortium_fine & pl.col(PARTICIPANT_KNOWN) & _valid("observation_time") & outside.fill_null(False),
                    pl.col("observation_time"),
                    pl.concat_str(
                        start.dt.strftime("%Y%m%d"), _text("–"), end.dt.strftime("%Y%m%d").fill_null(""), separator=""
                    ),
                )
            )
    if refers_to_devices(record):
        found.append(
            CrossRule(
                "DH-X111",
                "model_number",
                _valid("model_manufacturer_code") & _valid("model_number") & ~pl.col(DEVICE_KNOWN),
                pl.concat_str(pl.col("model_manufacturer_code"), _text(" / "), pl.col("model_number")),
                _text("機器リスト / device list"),
            )
        )
    if refers_to_labs(record):
        found.append(
            CrossRule(
                "DH-X112",
                "lab_id",
                consortium_fine & _valid("lab_id") & ~pl.col(LAB_KNOWN),
                pl.col("lab_id"),
                _text("医療検査機関リスト / laboratory list"),
            )
        )
    if "hba1c_method_code" in names:
        methods = registry.methods["method_code"].unique().sort().to_list()
        found.append(
            CrossRule(
                "DH-X112",
                "hba1c_method_code",
                _valid("hba1c_method_code") & ~pl.col("hba1c_method_code").is_in(methods),
                pl.col("hba1c_method_code"),
                _text("HbA1c測定法リスト / HbA1c method list"),
            )
        )
    if record is spec.PARTICIPANT:
        first, last = "participation_start_date", "participation_end_date"
        found.append(
            CrossRule(
                "DH-X122",
                last,
                _valid(first) & _valid(last) & (pl.col(typed_name(last)) < pl.col(typed_name(first))),
                pl.col(last),
                pl.concat_str(_text(f"{first}（"), pl.col(first), _text("）")),
            )
        )
    if record is spec.DEVICE:
        words = pl.col("measured_items").str.split(" ").list.eval(pl.element().is_in(sorted(MEASURED_ITEMS)))
        found.append(
            CrossRule(
                "DH-X118",
                "measured_items",
                _valid("measured_items") & ~words.list.all(),
                pl.col("measured_items"),
                _text("▲項目の物理名 / physical names of ▲ items: " + " ".join(sorted(MEASURED_ITEMS))),
            )
        )
    return found
