"""Crash test: SIGKILL the server at random moments under load; nothing acknowledged may be lost.

Starts ``datahealth serve`` (127.0.0.1, a free port, a fresh database) as a subprocess; hospital clients save
answers (HTMX autosaves with an ``Idempotency-Key``, as static/app.js does) and submit, consortium clients send
JSON batches (``POST /api/v1/exchange/batches`` with an ``Idempotency-Key``) and re-send acknowledged ones.
At random moments the server's process group gets SIGKILL and is started again; the clients keep retrying
(connection refused, 503) until they get an answer, the way a browser's autosave and a consortium's system do.
Every ``--check-every`` kills, and at the end, the clients are paused and the database is checked
(``reliability_common.verify``): every acknowledged save present with the acknowledged value, every
acknowledged batch present with all its records, no batch half-applied, ``PRAGMA integrity_check`` (SQLite) or
consistency queries (PostgreSQL), audit events matching data rows, ``datahealth audit verify`` passing, and
re-sent acknowledged batches adding nothing.

    python scripts/crash_test.py --backend sqlite --kills 300 --duration 540 --seed 1
    python scripts/crash_test.py --backend postgres --kills 300 --duration 540 --seed 1 \\
        --postgres-url "$DATAHEALTH_TEST_POSTGRES_URL"

Exit status 0 when nothing was lost, 1 otherwise. Bounded: it stops after ``--kills`` kills or ``--duration``
seconds, whichever comes first. The PostgreSQL server is never touched: only the app server is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from reliability_common import (  # noqa: E402 - after the path set-up above
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


@dataclass
class CrashReport:
    backend: str
    kills: int = 0
    seconds: float = 0.0
    checks: int = 0
    saves: int = 0
    submits: int = 0
    batches: int = 0
    resend_checks: int = 0
    retries: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        restart = sorted(self.restart_seconds) or [0.0]
        return (
            f"{self.backend}: {self.kills} kills in {self.seconds:.0f} s, {self.checks} checks; acknowledged "
            f"{self.saves} saves, {self.submits} submissions, {self.batches} batches; {self.resend_checks} "
            f"re-sends of acknowledged batches; {self.retries} client retries; restart median "
            f"{restart[len(restart) // 2]:.2f} s; problems: {len(self.problems)}"
        )


async def _crash_loop(
    args: argparse.Namespace, server: Server, gate: Gate, report: CrashReport, check: object, rng: random.Random
) -> None:
    deadline = time.monotonic() + args.duration
    while report.kills < args.kills and time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(args.min_interval, args.max_interval))
        server.kill()
        report.kills += 1
        if rng.random() < 0.2:  # sometimes the restart takes a while: clients see connection refused meanwhile
            await asyncio.sleep(rng.uniform(0.1, 0.5))
        report.restart_seconds.append(await asyncio.to_thread(server.start))
        if args.check_every and report.kills % args.check_every == 0:
            await gate.pause()
            await check()  # type: ignore[operator]
            gate.resume()


async def run_crash_test(args: argparse.Namespace) -> CrashReport:
    rng = random.Random(args.seed)
    report = CrashReport(args.backend)
    began = time.monotonic()
    with prepare_database(args.backend, postgres_url=args.postgres_url) as target:
        world = build_world(
            target,
            hospitals=args.hospitals,
            consortia=args.consortia,
            participants=args.participants,
            days=args.days,
            seed=args.seed,
        )
        log = Path(args.log) if args.log else None
        settings = {"DATAHEALTH_INGEST_PROCESSES": str(args.ingest_processes)}
        server = Server(target, free_port(), log=log, keep_standby=3, settings=settings)
        server.start()
        ledger = Ledger()
        gate = Gate()
        clients: list[HospitalClient | ConsortiumClient] = [
            HospitalClient(server.url, world, mine, ledger, gate, random.Random(rng.random()))
            for n in range(min(args.clients, len(world.hospitals)))
            if (mine := world.hospitals[n :: args.clients])
        ]
        clients += [
            ConsortiumClient(server.url, feed, ledger, gate, random.Random(rng.random()), resend=0.2)
            for feed in world.consortia
        ]

        async def check() -> None:
            report.checks += 1
            found = await asyncio.to_thread(verify, target, world, ledger, audit_cli=False)
            report.problems += [f"check {report.checks} after {report.kills} kills: {p}" for p in found]

        limits = httpx.Limits(max_connections=args.clients + len(world.consortia) + 4)
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as client:
                tasks = [asyncio.create_task(c.run(client)) for c in clients]
                await _crash_loop(args, server, gate, report, check, rng)
                await gate.stop()
                await asyncio.gather(*tasks)
            report.checks += 1
            found = await asyncio.to_thread(verify, target, world, ledger)
            report.problems += [f"final check: {p}" for p in found]
        finally:
            server.stop()
        report.problems += [f"unexpected answer: {u}" for u in ledger.unexpected]
        report.saves = len(ledger.saves)
        report.submits = len(ledger.submits)
        report.batches = len(ledger.batches)
        report.resend_checks = ledger.resend_checks
        report.retries = ledger.retries
    report.seconds = time.monotonic() - began
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--kills", type=int, default=300, help="SIGKILLs of the server (default 300)")
    p.add_argument("--duration", type=float, default=540, help="stop after this many seconds at most (default 540)")
    p.add_argument("--seed", type=int, default=1, help="random seed (kill moments, answers, retries)")
    p.add_argument("--hospitals", type=int, default=300, help="synthetic hospitals (each submits at most once)")
    p.add_argument("--clients", type=int, default=20, help="hospital clients working at the same time")
    p.add_argument("--consortia", type=int, default=3, help="consortium clients sending batches")
    p.add_argument("--participants", type=int, default=10, help="participants per consortium")
    p.add_argument("--days", type=int, default=120, help="days of records (batches of 5 days per participant)")
    p.add_argument("--min-interval", type=float, default=0.3, help="shortest load between kills, seconds")
    p.add_argument("--max-interval", type=float, default=1.5, help="longest load between kills, seconds")
    p.add_argument("--check-every", type=int, default=25, help="pause and check the database every N kills")
    p.add_argument(
        "--ingest-processes",
        type=int,
        default=0,
        help="DATAHEALTH_INGEST_PROCESSES of the server: batches in their own processes, killed with the server",
    )
    p.add_argument("--postgres-url", default=os.environ.get("DATAHEALTH_TEST_POSTGRES_URL", ""))
    p.add_argument("--log", default="", help="append the server's output to this file")
    return p


def main() -> int:
    args = parser().parse_args()
    report = asyncio.run(run_crash_test(args))
    for problem in report.problems[:50]:
        print("PROBLEM", problem)
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
