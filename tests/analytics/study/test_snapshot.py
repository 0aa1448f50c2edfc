"""The Parquet snapshot: incremental by batch, replaced records read in their newest version."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from sqlalchemy.orm import Session

from datahealth.analytics.study import synth
from datahealth.analytics.study.snapshot import connect, query, read_manifest, update_snapshot
from datahealth.exchange.service import Sender, Upload, ingest

NOW = datetime(2025, 9, 1, tzinfo=UTC)


def test_incremental_runs_and_replacements(db: Session, tmp_path: Path):
    study = synth.generate_study(participants=6, start=date(2025, 4, 1), seed=2)
    sender = Sender(None, "test")
    first = [Upload(n, c) for n, c in study.files if "/" not in n and n != "hba1c.csv"]
    assert ingest(db, sender, first, channel="cli", now=NOW).status == "accepted"
    db.commit()
    folder = tmp_path / "snap"
    run = update_snapshot(db, folder, now=NOW)
    assert (run.new_batches, run.rows["hba1c"]) == (1, 0)
    assert run.rows["activity"] == study.data.records["activity"].height

    hba1c = study.data.records["hba1c"]
    assert ingest(db, sender, [Upload("hba1c.csv", synth.exchange_synth.csv_bytes(hba1c))], channel="cli", now=NOW)
    db.commit()
    run = update_snapshot(db, folder, now=NOW)
    assert (run.new_batches, run.rows["hba1c"], run.rows["activity"]) == (1, hba1c.height, 0)

    # a correction: the first HbA1c value again with a newer update_time replaces the stored one
    corrected = hba1c.head(1).with_columns(hba1c=pl.lit("9.9"), update_time=pl.lit("20250601000000000"))
    result = ingest(
        db, sender, [Upload("hba1c.csv", synth.exchange_synth.csv_bytes(corrected))], channel="cli", now=NOW
    )
    assert result.counts["hba1c"]["replaced"] == 1
    db.commit()
    run = update_snapshot(db, folder, now=NOW)
    assert run.rows["hba1c"] == 1
    manifest = read_manifest(folder)
    assert manifest["replaced"]["hba1c"] == 1 and manifest["parts"]["hba1c"] == 2
    con = connect(folder)
    values = query(con, "SELECT count(*) AS n, max(hba1c) AS top FROM hba1c").row(0, named=True)
    assert values["n"] == hba1c.height and values["top"] == 9.9

    # nothing new: nothing exported; a rebuild exports everything once more into one part
    assert update_snapshot(db, folder, now=NOW).new_batches == 0
    rebuilt = update_snapshot(db, folder, now=NOW, rebuild=True)
    assert (rebuilt.new_batches, rebuilt.rows["hba1c"]) == (3, hba1c.height)
