"""Content hashes: the same data hashes the same on SQLite and PostgreSQL; any change shows."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from backup_data import BATCH_ID, digests_of
from sqlalchemy import Engine, insert, text, update

from datahealth.backup.contenthash import normalise, row_line
from datahealth.config import Settings
from datahealth.db import make_engine
from datahealth.exchange.tables import Batch, table_for

JST = timezone(timedelta(hours=9))


def test_normalise_makes_driver_differences_disappear():
    assert normalise(datetime(2025, 2, 3, 12, tzinfo=JST)) == normalise(datetime(2025, 2, 3, 3, tzinfo=UTC))
    assert normalise(datetime(2025, 2, 3, 3)) == "2025-02-03T03:00:00"  # naive values stay as stored
    assert normalise(Decimal("65.50")) == normalise(Decimal("65.5")) == "65.5"
    assert normalise(Decimal("100")) == "100" and normalise(Decimal("-0.0")) == "0"
    assert normalise(date(2025, 1, 27)) == "2025-01-27"
    assert normalise(memoryview(b"\x00\xff")) == "00ff"
    assert row_line([{"b": 1, "a": "病院"}]) == row_line([{"a": "病院", "b": 1}])
    assert row_line(["a", None]) != row_line(["a", ""])


def _fixed_rows(engine: Engine) -> None:
    """Rows with every value given (no defaults that depend on the clock), in a scrambled key order."""
    weight = table_for("weight")
    with engine.begin() as connection:
        connection.execute(
            insert(Batch.__table__).values(
                id=BATCH_ID,
                consortium_id="C0001",
                received_at=datetime(2025, 2, 4, 5, tzinfo=UTC),
                channel="cli",
                wire_format="csv",
                sources=["体重.csv", "weight.csv"],
                strict=True,
                status="accepted",
                counts={"weight": {"stored": 2, "received": 2}, "備考": "全角"},
                idempotency_key=None,
                submitted_by="user:admin",
            )
        )
        for row_id, participant, value in ((7, "P2", Decimal("65.50")), (3, "P1", Decimal("0.1"))):
            connection.execute(
                insert(weight).values(
                    id=row_id,
                    consortium_id="C0001",
                    participant_id=participant,
                    observation_time=datetime(2025, 2, 1, 7, 30),
                    body_weight=value,
                    model_manufacturer_code="MAKER",
                    model_number="W-100",
                    production_specification_serial="SN",
                    data_input_code="1",
                    origin_of_time_code="1",
                    update_time=datetime(2025, 2, 1, 8, 0),
                    flags="",
                    batch_id=BATCH_ID,
                    stored_at=datetime(2025, 2, 4, 5, tzinfo=UTC),
                )
            )


def test_same_data_same_hash_on_both_engines(sqlite_template: Path, tmp_path: Path):
    url = os.environ.get("DATAHEALTH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("needs PostgreSQL as well")
    (tmp_path / "data").mkdir()
    shutil.copy(sqlite_template, tmp_path / "data" / "datahealth.sqlite3")
    lite = make_engine(Settings(data_dir=tmp_path / "data", environment="test"))
    from sqlalchemy import create_engine

    from datahealth import migrate

    name = f"dh_hash_{os.urandom(4).hex()}"
    admin = create_engine("postgresql+psycopg://" + url.split("://", 1)[1], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    pg = make_engine(Settings(database_url=f"{url.rpartition('/')[0]}/{name}", environment="test"))
    try:
        migrate.upgrade(pg)
        for engine in (lite, pg):
            _fixed_rows(engine)
        on_sqlite, on_postgres = digests_of(lite), digests_of(pg)
        assert on_sqlite["exch_weight"].rows == 2
        assert on_sqlite == on_postgres
    finally:
        lite.dispose()
        pg.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_any_change_changes_the_hash_of_that_table_only(engine: Engine):
    _fixed_rows(engine)
    before = digests_of(engine)
    weight = table_for("weight")
    with engine.begin() as connection:
        connection.execute(update(weight).where(weight.c.id == 7).values(body_weight=Decimal("65.6")))
    after = digests_of(engine)
    assert after["exch_weight"].rows == before["exch_weight"].rows
    assert after["exch_weight"].sha256 != before["exch_weight"].sha256
    assert {name for name in before if before[name] != after[name]} == {"exch_weight"}
