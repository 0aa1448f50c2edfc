"""Step counter accuracy from a validation data set: device steps against counted reference steps.

The validation CSV (UTF-8, header row; documented in docs/analytics.md)::

    product_code,product_name,participant_id,trial,device_steps,reference_steps
    A,製品A,V001,1,962,1003

One row is one walk: the steps a product counted and the steps an observer counted (the reference).
Every row is checked and every problem reported (DH-T111 missing column, DH-T112 not a whole number ≥ 0,
DH-T113 reference below 1, DH-T114 the same product/participant/trial twice, DH-T115 no rows, DH-T116 not
UTF-8); a file with any problem is refused as a whole, so no analysis silently runs on part of it.

Per product: error rate ``(device − reference) / reference × 100``: mean (95 % CI with participants as the
independent units), median, first and
third quartiles, the share within ±3 % (JIS S 7200's tolerance for pedometers) and whether both quartiles
lie inside it; Bland–Altman on steps (bias, SD of the differences, limits of agreement bias ± 1.96 SD);
between-participant spread: the SD and the range (max − min) of the participants' mean differences.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import polars as pl
from scipy import stats

from datahealth.errors import Problem, ValidationFailed

COLUMNS = ("product_code", "product_name", "participant_id", "trial", "device_steps", "reference_steps")
INTEGERS = ("trial", "device_steps", "reference_steps")
JIS_TOLERANCE = 3.0
"""± % of the reference (JIS S 7200 pedometers)."""
MAX_PROBLEMS = 200


def read_validation_csv(content: bytes, source: str = "validation.csv") -> pl.DataFrame:
    """The checked validation rows (see the module docstring), or ``ValidationFailed`` with every problem."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(Problem("DH-T116", {"source": source, "detail": str(error)[:120]})) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        raise ValidationFailed(*(Problem("DH-T111", {"source": source}, field=name) for name in missing))
    problems: list[Problem] = []
    rows: list[tuple[str, str, str, int, int, int]] = []
    seen: dict[tuple[str, str, int], int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key is not None}
        numbers: dict[str, int] = {}
        for name in INTEGERS:
            value = row.get(name, "")
            if not value.isascii() or not value.isdigit():
                problems.append(Problem("DH-T112", {"source": source, "value": value[:40]}, row=line, field=name))
            else:
                numbers[name] = int(value)
        for name in ("product_code", "participant_id"):
            if not row.get(name):
                problems.append(Problem("DH-T115", {"source": source}, row=line, field=f"{name} ({line})"))
        if numbers.get("reference_steps") == 0:
            problems.append(Problem("DH-T113", {"source": source, "value": "0"}, row=line, field="reference_steps"))
        if len(numbers) == len(INTEGERS):
            key = (row["product_code"], row["participant_id"], numbers["trial"])
            if key in seen:
                value = f"{key[0]}/{key[1]}/{key[2]}, line {seen[key]}"
                problems.append(Problem("DH-T114", {"source": source, "value": value}, row=line, field="trial"))
            seen[key] = line
            rows.append(
                (
                    row["product_code"],
                    row.get("product_name") or row["product_code"],
                    row["participant_id"],
                    numbers["trial"],
                    numbers["device_steps"],
                    numbers["reference_steps"],
                )
            )
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ValidationFailed(*problems[:MAX_PROBLEMS])
    if not rows:
        raise ValidationFailed(Problem("DH-T115", {"source": source}, field="rows / 行"))
    schema = dict(zip(COLUMNS, (pl.String, pl.String, pl.String, pl.Int64, pl.Int64, pl.Int64), strict=True))
    return pl.DataFrame(rows, schema=schema, orient="row")


def with_errors(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        difference=(pl.col("device_steps") - pl.col("reference_steps")).cast(pl.Float64),
        average=(pl.col("device_steps") + pl.col("reference_steps")) / 2,
        error_rate=(pl.col("device_steps") - pl.col("reference_steps")) / pl.col("reference_steps") * 100,
    )


def accuracy(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per product (see the module docstring), in product order."""
    rows = with_errors(frame)
    per_product = rows.group_by("product_code", "product_name").agg(
        n=pl.len(),
        participants=pl.col("participant_id").n_unique(),
        mean_error=pl.col("error_rate").mean(),
        sd_error=pl.col("error_rate").std(),
        median_error=pl.col("error_rate").median(),
        q1_error=pl.col("error_rate").quantile(0.25, interpolation="linear"),
        q3_error=pl.col("error_rate").quantile(0.75, interpolation="linear"),
        within_jis=(pl.col("error_rate").abs() <= JIS_TOLERANCE).mean() * 100,
        bias_steps=pl.col("difference").mean(),
        sd_difference=pl.col("difference").std(),
        device_mean=pl.col("device_steps").mean(),
        reference_mean=pl.col("reference_steps").mean(),
    )
    spread = (
        rows.group_by("product_code", "participant_id")
        .agg(person=pl.col("difference").mean(), person_rate=pl.col("error_rate").mean())
        .group_by("product_code")
        .agg(
            participant_sd_steps=pl.col("person").std(),
            participant_range_steps=pl.col("person").max() - pl.col("person").min(),
            participant_mean_rate=pl.col("person_rate").mean(),
            participant_sd_rate=pl.col("person_rate").std(),
        )
    )
    table = per_product.join(spread, on="product_code").sort("product_code")
    # The CI of the mean error treats participants, not walks, as the independent units (walks of one
    # participant share that person's gait): t with participants − 1 degrees of freedom on participant means.
    people = table["participants"].to_numpy().astype(float)
    half = (
        stats.t.ppf(0.975, np.maximum(people - 1, 1))
        * table["participant_sd_rate"].fill_null(np.nan).to_numpy()
        / np.sqrt(people)
    )
    return table.with_columns(
        mean_low=pl.col("participant_mean_rate") - pl.Series(half),
        mean_high=pl.col("participant_mean_rate") + pl.Series(half),
        loa_low=pl.col("bias_steps") - 1.96 * pl.col("sd_difference"),
        loa_high=pl.col("bias_steps") + 1.96 * pl.col("sd_difference"),
        quartiles_within_jis=(pl.col("q1_error") >= -JIS_TOLERANCE) & (pl.col("q3_error") <= JIS_TOLERANCE),
    ).with_columns(pl.col("mean_low", "mean_high").fill_nan(None))
