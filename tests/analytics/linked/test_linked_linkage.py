"""Linkage of the synthetic sources: rates reported, every link right, no identifier in the analysis tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from datahealth.analytics.linked import linkage
from datahealth.errors import UserError


def test_link_rates_reported(link_report: linkage.LinkReport, linked_dir: Path) -> None:
    by_source = {s.source: s for s in link_report.sources}
    assert set(by_source) == {"checkups", "medical", "care"}
    # every checkup and medical row has a readable register entry: all link (by key1 or, rarely, key2)
    for name in ("checkups", "medical"):
        s = by_source[name]
        assert s.rows > 0
        assert s.linked + s.ambiguous == s.rows
        assert s.by_key1 >= 0.99 * s.rows
    care = by_source["care"]
    assert care.by_key1 == 0  # no insurer number on care claims: key2 only
    assert 0 < care.unmatched < 0.02 * care.rows  # the planted typos (0.3 % of persons) stay unmatched
    saved = json.loads((linked_dir / "link_report.json").read_text(encoding="utf-8"))
    assert saved["sources"][2]["unmatched"] == care.unmatched


def test_no_false_links(linked_dir: Path) -> None:
    """Each pid belongs to exactly one synthetic person and each person to one pid, across all sources."""
    con = duckdb.connect()
    pairs = con.sql(
        f"""
        SELECT DISTINCT pid, truth_person_id FROM (
            SELECT pid, truth_person_id FROM '{linked_dir}/medical.parquet'
            UNION ALL SELECT pid, truth_person_id FROM '{linked_dir}/care.parquet'
            UNION ALL SELECT pid, truth_person_id FROM '{linked_dir}/checkups.parquet')
        """  # noqa: S608 - test data paths
    ).fetchall()
    pids = [p for p, _t in pairs]
    truths = [t for _p, t in pairs]
    assert len(pairs) > 1000
    assert len(set(pids)) == len(pids)
    assert len(set(truths)) == len(truths)


def test_care_rows_with_typos_are_the_unmatched_ones(synth_dir: Path, linked_dir: Path) -> None:
    con = duckdb.connect()
    raw = con.execute(f"SELECT count(*) FROM '{synth_dir}/raw/care/*.parquet'").fetchone()  # noqa: S608 - test data paths
    linked = con.execute(f"SELECT count(*) FROM '{linked_dir}/care.parquet'").fetchone()  # noqa: S608 - test data paths
    assert raw is not None and linked is not None
    assert 0 < raw[0] - linked[0] < 0.02 * raw[0]


def test_analysis_tables_hold_no_identifiers(linked_dir: Path) -> None:
    con = duckdb.connect()
    forbidden = {"name_kana", "name_kanji", "member_symbol", "member_number", "birth_date", "care_number"}
    for name in ("persons", "checkups", "medical", "care"):
        columns = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM '{linked_dir}/{name}.parquet'").fetchall()}  # noqa: S608 - test data paths
        assert not columns & forbidden, name


def test_missing_raw_data_is_a_catalogued_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        linkage.link(tmp_path, b"k")
    assert info.value.problems[0].code == "DH-L101"
    with pytest.raises(UserError) as info:
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw" / "enrolment.parquet").write_bytes(b"")
        linkage.link(tmp_path, b"")
    assert info.value.problems[0].code == "DH-L102"
