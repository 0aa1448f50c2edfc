"""A small exchange-hub world for API fuzzing: demo consortia with records and batches, and API tokens.

Used by ``tests/security/test_schemathesis.py`` (bounded, in CI) and ``fuzz/fuzz_api.py`` (long runs).
Everything comes from the project's synthetic generators through the real ingest path
(``exchange.demo.load_exchange_demo``); nothing here is real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from datahealth.exchange.demo import load_exchange_demo
from datahealth.exchange.tokens import ALL_CONSORTIA, create_token

TODAY = date(2025, 3, 1)
NOW = datetime(2025, 3, 1, 3, tzinfo=UTC)


@dataclass(frozen=True)
class ApiWorld:
    consortium_token: str
    """Token of consortium DEMO1 (may send batches; reads DEMO1 only)."""
    researcher_token: str
    """Read-only token for every consortium (``*``)."""
    participant_id: str
    batch_id: str


def build_api_world(session_factory: sessionmaker[Session], *, days: int = 14, participants: int = 2) -> ApiWorld:
    """Load a small exchange demo (3 consortia) and create one consortium token and one researcher token."""
    from sqlalchemy import select

    from datahealth.exchange.tables import Batch, table_for

    with session_factory.begin() as db:
        load_exchange_demo(db, today=TODAY, days=days, participants=participants)
        _, consortium_token = create_token(db, "DEMO1", "fuzz", None, NOW)
        _, researcher_token = create_token(db, ALL_CONSORTIA, "fuzz-research", None, NOW)
        participant = table_for("participant")
        participant_id = db.execute(
            select(participant.c.participant_id).where(participant.c.consortium_id == "DEMO1").limit(1)
        ).scalar_one()
        batch_id = db.execute(select(Batch.id).where(Batch.consortium_id == "DEMO1").limit(1)).scalar_one()
    return ApiWorld(consortium_token, researcher_token, participant_id, batch_id)
