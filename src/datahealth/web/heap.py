"""Garbage collection of a serving process: keep the start-up heap out of it, collect young objects in bulk.

After start-up a worker holds ~220,000 objects (modules, classes, SQLAlchemy and pydantic metadata, the survey
definitions) that live as long as the process. CPython's full collection walks all of them: measured 130 ms on an
idle core and 190-340 ms under load, every ~5 s per worker at 300 saves/s. Every request in flight in that worker
waits meanwhile: part of the slow tail of the save latency (``benchmarks/load_survey.py --timeline``). Frozen
objects are never examined again, so a full collection only walks what requests left behind.
"""

from __future__ import annotations

import gc

SERVING_THRESHOLDS = (20_000, 20, 50)
"""A request makes thousands of short-lived container objects; a young generation of 20,000 collects them in
bulk (fewer, equally cheap passes) instead of every 700 allocations."""


def settle_heap() -> None:
    """Collect once, move everything alive into the permanent generation, and collect young objects in bulk.

    Called when a serving process has built its application. Garbage made later is still collected; only the
    objects alive now are never examined again (they live until the process ends anyway).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
