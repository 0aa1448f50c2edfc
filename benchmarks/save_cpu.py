"""CPU time and SQL statements of one survey autosave, measured in-process (no network, no other load of ours).

The app is called through httpx's ASGI transport, one save after another, so the CPU time per save is the
application's own (plus the small ASGI client) and does not depend on how many other processes share the
machine as much as a loaded server's latency does. Also counts the SQL statements of a save by kind.

    python benchmarks/save_cpu.py --backend sqlite
    python benchmarks/save_cpu.py --backend postgres --postgres-url "$DATAHEALTH_TEST_POSTGRES_URL"
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_common import BASE_ANSWERS, build_world, prepare_database  # noqa: E402

from datahealth.web.app import create_app  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--saves", type=int, default=300)
    p.add_argument("--postgres-url", default=os.environ.get("DATAHEALTH_TEST_POSTGRES_URL", ""))
    args = p.parse_args()
    statements: collections.Counter[str] = collections.Counter()
    with prepare_database(args.backend, postgres_url=args.postgres_url) as target:
        world = build_world(target, hospitals=20)
        app = create_app(target.settings())
        form: list[tuple[str, str]] = []
        for question in dict(world.sections)["governance"]:
            form.append(("_shown", question))
            value = BASE_ANSWERS[question]
            form += [(question, item) for item in value] if isinstance(value, list) else [(question, value)]
        body = urlencode(form)

        async def run() -> tuple[float, float]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

                async def save(number: int) -> None:
                    login = world.hospitals[number % len(world.hospitals)]
                    response = await client.post(
                        f"/surveys/{world.survey_id}/s/governance",
                        content=body,
                        headers={
                            "HX-Request": "true",
                            "X-CSRF-Token": login.csrf_token,
                            "Idempotency-Key": str(uuid.uuid4()),
                            "Content-Type": "application/x-www-form-urlencoded",
                            "Cookie": f"dh_session={login.session_token}",
                        },
                    )
                    assert response.status_code == 200, response.text[:300]

                for number in range(20):  # warm-up: caches, prepared statements
                    await save(number)

                def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
                    statements[" ".join(statement.split()[:4])[:70]] += 1

                event.listen(Engine, "before_cursor_execute", count)
                cpu, wall = time.process_time(), time.perf_counter()
                for number in range(args.saves):
                    await save(number)
                return time.process_time() - cpu, time.perf_counter() - wall

        cpu, wall = asyncio.run(run())
    print(f"{args.backend}: {cpu / args.saves * 1000:.1f} ms CPU and {wall / args.saves * 1000:.1f} ms wall per save")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; statements per save:")
    for statement, number in statements.most_common():
        if number >= args.saves // 2:
            print(f"  {number / args.saves:.1f}  {statement}")


if __name__ == "__main__":
    main()
