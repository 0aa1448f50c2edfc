"""One synthetic study through the real path: exchange service ingest → registration → Parquet snapshot →
DuckDB → statistics → HTML/PDF report; the planted effect is recovered from the hub's own data."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.orm import Session

from datahealth.analytics.study import service, synth
from datahealth.analytics.study.snapshot import read_manifest
from datahealth.reports import study_report

START = date(2025, 4, 1)


def now_for(study: synth.SynthStudy) -> datetime:
    return datetime.combine(START + timedelta(days=synth.horizon(study.definition) + 5), time(3), tzinfo=UTC)


@pytest.fixture
def ingested(db: Session) -> synth.SynthStudy:
    study = synth.generate_study(participants=120, start=START, seed=11)
    result, registered = synth.ingest_study(db, study, now=now_for(study))
    db.commit()
    assert result.status == "accepted", [issue.code for issue in result.errors][:5]
    assert result.counts["hba1c"]["stored"] == study.hba1c.height
    assert registered.allocation.equals(study.allocation)
    return study


def test_the_hub_data_recovers_the_planted_truth(db: Session, ingested: synth.SynthStudy, tmp_path: Path):
    study = ingested
    results = service.run(
        db, tmp_path / "snapshot", now=now_for(study), code=study.definition.code, validation_csv=study.validation
    )
    assert results.snapshot is not None and results.snapshot.rows["hba1c"] == study.hba1c.height
    assert results.snapshot.rows["activity"] == study.data.records["activity"].height
    # the analysed HbA1c values are the generated ones (nothing lost or altered on the way)
    assert results.long["value"].is_not_null().sum() <= study.hba1c.height
    primary = [e for e in results.estimates if e.method == "ancova" and e.follow_up == "m3"]
    for estimate in primary:
        if estimate.stratum in study.truth.effect:
            assert estimate.covers(study.truth.effect[estimate.stratum]["m3"]), estimate
    # missing follow-up is reported: allocated = complete + missing (no participant silently dropped)
    table = results.summary.filter(pl.col("follow_up") == "m3", pl.col("stratum") == "all")
    assert table["allocated"].sum() == 120
    assert (table["complete"] + table["missing_follow_up"] == table["allocated"]).all()
    # device accuracy: every planted mean error rate is inside its product's 95 % CI
    assert results.accuracy is not None
    for product in synth.PRODUCTS:
        row = results.accuracy.filter(pl.col("product_code") == product.product).row(0, named=True)
        assert row["mean_low"] <= product.mean_error <= row["mean_high"], product
    near_truth = results.accuracy.filter(pl.col("quartiles_within_jis"))["product_code"].to_list()
    assert near_truth == ["D", "E"]
    # engagement: the intervention arm wears the device more (planted 0.92 vs 0.82 per day)
    by_arm = results.engagement.by_arm.group_by("arm").agg(pl.col("mean_days").mean())
    days = dict(by_arm.iter_rows())
    assert days["intervention"] > days["control"]

    # a second run exports nothing new; a further batch is picked up incrementally
    again = service.run(db, tmp_path / "snapshot", now=now_for(study), code=study.definition.code)
    assert again.snapshot is not None and again.snapshot.new_batches == 0
    assert len(read_manifest(tmp_path / "snapshot")["batches"]) == 1


def test_the_report_pdf_has_a_non_blank_first_page(db: Session, ingested: synth.SynthStudy, tmp_path: Path):
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("the PDF does not depend on the backend; rendered once (SQLite)")
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    study = ingested
    results = service.run(
        db, tmp_path / "snapshot", now=now_for(study), code=study.definition.code, validation_csv=study.validation
    )
    moment = now_for(study)
    html = study_report.render_html(results, generated_at=moment)
    assert "投薬治療なし" in html and "介入あり" in html and "▲" in html and "Bland–Altman" in html
    assert html.index("投薬治療なし") < html.index("No medication")  # Japanese first
    pdf = study_report.render_pdf(results, generated_at=moment)
    (tmp_path / "study.pdf").write_bytes(pdf)
    subprocess.run(  # noqa: S603 - fixed arguments
        [pdftoppm, "-r", "40", "-f", "1", "-l", "1", "-gray", "-png", str(tmp_path / "study.pdf"), str(tmp_path / "p")],
        check=True,
        timeout=120,
    )
    from PIL import Image

    page = Image.open(next(tmp_path.glob("p*.png")))
    histogram = page.histogram()
    dark = sum(histogram[:128])
    assert dark > 0.005 * page.width * page.height  # text and table lines, not an empty page
