"""PostgreSQL stopped under load: clear 503s (DH-G503, Retry-After), no 500, no hang, no half write; then recovery.

A private cluster (tests/reliability/pg_cluster.py) is stopped while hospital and consortium clients are
working, then started again. The app is not restarted: its pool (pre-ping) reconnects by itself.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pg_cluster import PrivateCluster  # noqa: E402
from reliability_common import (  # noqa: E402
    ConsortiumClient,
    Gate,
    HospitalClient,
    Ledger,
    Server,
    build_world,
    free_port,
    prepare_database,
)
from reliability_verify import verify  # noqa: E402

ANSWER_WITHIN = 10.0
"""Seconds any request may take while the database is down (no hang)."""


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    try:
        private = PrivateCluster()
    except FileNotFoundError as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(missing))
    private.start()
    yield private
    private.remove()


async def _until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    """Wait until the clients got that far (bounded: the test fails on the assertions after it otherwise)."""
    deadline = time.monotonic() + limit
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def _probe(server: Server, world_login: object, feed_token: str, probes: list[dict[str, object]]) -> None:
    """One page request (HTML) and one API request (JSON) while the database is down."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(ANSWER_WITHIN * 2)) as client:
        began = time.monotonic()
        page = await client.get(server.url + "/", headers={"Cookie": f"dh_session={world_login.session_token}"})  # type: ignore[attr-defined]
        api = await client.get(
            server.url + "/api/v1/exchange/batches", headers={"Authorization": f"Bearer {feed_token}"}
        )
        probes.append({"page": page, "api": api, "seconds": time.monotonic() - began})


def test_database_stopped_mid_load_answers_503_then_recovers(cluster: PrivateCluster, tmp_path: Path) -> None:
    with prepare_database("postgres", postgres_url=cluster.url) as target:
        world = build_world(target, hospitals=12, consortia=1, participants=3, days=40, seed=3)
        server = Server(target, free_port(), log=tmp_path / "server.log")
        server.start()
        ledger = Ledger()
        gate = Gate()
        rng = random.Random(5)
        clients: list[HospitalClient | ConsortiumClient] = [
            HospitalClient(server.url, world, world.hospitals[n::4], ledger, gate, random.Random(rng.random()))
            for n in range(4)
        ]
        clients.append(ConsortiumClient(server.url, world.consortia[0], ledger, gate, random.Random(1), resend=0.3))
        probes: list[dict[str, object]] = []
        recovered_after = -1.0

        async def scenario() -> None:
            nonlocal recovered_after
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
                tasks = [asyncio.create_task(c.run(client)) for c in clients]
                await _until(lambda: len(ledger.saves) >= 5 and len(ledger.batches) >= 1)
                acknowledged_before = len(ledger.saves)
                await asyncio.to_thread(cluster.stop)
                for _ in range(4):
                    await _probe(server, world.hospitals[0], world.consortia[0].token, probes)
                    await asyncio.sleep(0.5)
                saves_while_down = len(ledger.saves)
                await asyncio.to_thread(cluster.start)
                restarted = time.monotonic()
                async with httpx.AsyncClient(timeout=httpx.Timeout(ANSWER_WITHIN)) as probe:
                    while time.monotonic() - restarted < 30:
                        page = await probe.get(
                            server.url + "/", headers={"Cookie": f"dh_session={world.hospitals[0].session_token}"}
                        )
                        if page.status_code == 200:
                            recovered_after = time.monotonic() - restarted
                            break
                        await asyncio.sleep(0.2)
                await _until(lambda: len(ledger.saves) > saves_while_down + 5)  # retried writes go through
                await gate.stop()
                await asyncio.gather(*tasks)
                assert acknowledged_before > 0, "no load before the database stopped"
                assert len(ledger.saves) > saves_while_down, "nothing acknowledged after the database came back"

        try:
            asyncio.run(scenario())
        finally:
            server.stop()
        assert server.starts == 1  # the app was never restarted
        for probe in probes:
            page, api = probe["page"], probe["api"]
            assert isinstance(page, httpx.Response) and isinstance(api, httpx.Response)
            assert float(probe["seconds"]) < ANSWER_WITHIN * 2  # type: ignore[arg-type]
            assert page.status_code == 503 and page.headers["retry-after"].isdigit()
            assert page.headers["content-type"].startswith("text/html") and "DH-G503" in page.text
            assert "データベース" in page.text
            assert api.status_code == 503 and api.headers["retry-after"].isdigit()
            body = api.json()["error"]
            assert body["status"] == 503 and body["code"] == "DH-G503"
            assert body["problems"][0]["message_ja"] and body["problems"][0]["message_en"]
        assert probes, "no request was made while the database was down"
        assert 0 <= recovered_after < 30, "requests did not succeed again after the database came back"
        assert ledger.status_counts.get(503, 0) > 0, ledger.status_counts
        assert ledger.status_counts.get(500, 0) == 0, ledger.status_counts
        assert ledger.unexpected == []
        assert verify(target, world, ledger) == []  # nothing acknowledged lost, nothing half-written
