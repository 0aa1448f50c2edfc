"""CPU time and SQL statements of one survey autosave, measured in-process (no network, no other load of ours).

The app is called through httpx's ASGI transport, one save after another, so the CPU time per save is the
application's own (plus the small ASGI client) and does not depend on how many other processes share the
machine as much as a loaded server's latency does. Also counts the SQL statements of a save by kind.

With ``--http`` the saves go instead over loopback to ``datahealth serve`` (one worker, no access log, the
HTTP parser and event loop uvicorn picks), one after another on one keep-alive connection, and the figure is
the server process's CPU time per save: what a save costs the server in the load test, without the driver.

    python benchmarks/save_cpu.py --backend sqlite
    python benchmarks/save_cpu.py --backend postgres --postgres-url "$DATAHEALTH_TEST_POSTGRES_URL"
    python benchmarks/save_cpu.py --backend postgres --http --saves 2000
    python benchmarks/save_cpu.py --backend postgres --http --saves 2000 --sections all
    python benchmarks/save_cpu.py --backend postgres --http --saves 2000 --sections all --changing

``--changing`` gives the load test's variable questions a new value in every save (as ``load_survey.py`` does),
so the answers are updated each time a section with one is saved; without it a repeated save changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_common import (  # noqa: E402
    BASE_ANSWERS,
    VARIABLE,
    HospitalLogin,
    Server,
    World,
    build_world,
    free_port,
    prepare_database,
)

from datahealth.web.app import create_app  # noqa: E402

_WARM_UP = 50
"""Saves before the measurement: caches, prepared statements, the thread pool."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--saves", type=int, default=300)
    p.add_argument("--postgres-url", default=os.environ.get("DATAHEALTH_TEST_POSTGRES_URL", ""))
    p.add_argument("--http", action="store_true", help="over loopback to `datahealth serve`: server CPU per save")
    p.add_argument(
        "--sections",
        choices=("governance", "all"),
        default="governance",
        help="governance: one section every time; all: every section in turn (the load test's mix)",
    )
    p.add_argument("--changing", action="store_true", help="variable questions get a new value in every save")
    args = p.parse_args()
    statements: collections.Counter[str] = collections.Counter()
    with prepare_database(args.backend, postgres_url=args.postgres_url) as target:
        world = build_world(target, hospitals=20)
        names = [name for name, _ in world.sections] if args.sections == "all" else ["governance"]
        forms = [  # the body of every save, warm-up first: building them is not measured
            (names[n % len(names)], _section_form(world, names[n % len(names)], n if args.changing else None))
            for n in range(_WARM_UP + args.saves)
        ]
        if args.http:
            server = Server(target, free_port())
            server.start()
            try:
                cpu, wall = _over_http(server, world, forms, args.saves)
            finally:
                server.stop()
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(
                f"{args.backend} over HTTP: {cpu / args.saves * 1000:.2f} ms server CPU per save, "
                f"{wall / args.saves * 1000:.2f} ms wall (load average {load})"
            )
            return
        app = create_app(target.settings())

        async def run() -> tuple[float, float]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

                async def save(number: int) -> None:
                    login = world.hospitals[number % len(world.hospitals)]
                    section, body = forms[number]
                    response = await client.post(
                        f"/surveys/{world.survey_id}/s/{section}", content=body, headers=_autosave_headers(login)
                    )
                    assert response.status_code == 200, response.text[:300]

                for number in range(_WARM_UP):  # caches, prepared statements
                    await save(number)

                def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
                    statements[" ".join(statement.split()[:4])[:70]] += 1

                event.listen(Engine, "before_cursor_execute", count)
                cpu, wall = time.process_time(), time.perf_counter()
                for number in range(_WARM_UP, _WARM_UP + args.saves):
                    await save(number)
                return time.process_time() - cpu, time.perf_counter() - wall

        cpu, wall = asyncio.run(run())
    print(f"{args.backend}: {cpu / args.saves * 1000:.1f} ms CPU and {wall / args.saves * 1000:.1f} ms wall per save")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; statements per save:")
    for statement, number in statements.most_common():
        if number >= args.saves // 2:
            print(f"  {number / args.saves:.1f}  {statement}")


def _autosave_headers(login: HospitalLogin) -> dict[str, str]:
    """What the page's HTMX autosave sends with a save (a fresh idempotency key each time)."""
    return {
        "HX-Request": "true",
        "X-CSRF-Token": login.csrf_token,
        "Idempotency-Key": str(uuid.uuid4()),
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"dh_session={login.session_token}",
    }


def _section_form(world: World, section: str, number: int | None = None) -> str:
    """The section's form body; with ``number``, the load test's variable questions get a value of their own."""
    form: list[tuple[str, str]] = []
    for question in dict(world.sections)[section]:
        form.append(("_shown", question))
        value = BASE_ANSWERS[question]
        if number is not None and question in VARIABLE:
            value = str(number % 99 + 1) if question == "q13" else f"{value} {number}"
        form += [(question, item) for item in value] if isinstance(value, list) else [(question, value)]
    return urlencode(form)


def _over_http(server: Server, world: World, forms: list[tuple[str, str]], saves: int) -> tuple[float, float]:
    """Sequential saves on one keep-alive connection; the server process's CPU seconds and the wall time."""
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def save(number: int) -> None:
        login = world.hospitals[number % len(world.hospitals)]
        section, body = forms[number]
        connection.request(
            "POST",
            f"/surveys/{world.survey_id}/s/{section}",
            body=body.encode(),
            headers=_autosave_headers(login),
        )
        response = connection.getresponse()
        text = response.read()
        assert response.status == 200, text[:300]

    for number in range(_WARM_UP):  # caches, prepared statements, the thread pool
        save(number)
    database = _postgres_cpu()
    before, wall = sum(process.cpu_times()[:2]), time.perf_counter()
    for number in range(_WARM_UP, _WARM_UP + saves):
        save(number)
    cpu = sum(process.cpu_times()[:2]) - before
    if database:
        print(f"PostgreSQL processes: {(_postgres_cpu() - database) / saves * 1000:.2f} ms CPU per save")
    return cpu, time.perf_counter() - wall


def _postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process of the machine (backends, WAL writer, checkpointer)."""
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("postgres", "postmaster"):
            try:
                total += sum(process.cpu_times()[:2])
            except psutil.Error:
                continue
    return total


if __name__ == "__main__":
    main()
