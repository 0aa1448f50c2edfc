"""Run a coroutine on a fresh event loop in a thread of its own.

Under pytest-xdist one worker runs many test files; when an earlier file left an event loop running in the
worker's main thread (Playwright's sync API keeps one while its session-scoped browser lives),
``asyncio.run`` refuses to start there. A separate thread always has no running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_isolated(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` in a new thread; returns its result or raises its exception."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="own-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()
