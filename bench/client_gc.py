"""The load generator's garbage collections, counted per step.

A bench that seeds through Django carries Django, DRF, openai and the project in its own heap: 174k
objects, whose full (generation 2) collection took 107 to 121 ms on the client's event loop here
(2026-12-08), every few seconds at 60 requests/s. Every request in flight then reads its first token
that much later: the client's stall counted as the service's, in bursts of slow first tokens within one
second (docs/performance.md). The benches freeze the client's heap after seeding, as the web processes
freeze theirs (chatpresets/gc_tuning.py), and each topology step reports what its collections still cost.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def pauses() -> Iterator[dict[str, Any]]:
    """The block's collections, filled in when it ends: how many, the longest and the sum (ms)."""
    durations: list[float] = []
    started: list[float] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            durations.append(1000 * (time.perf_counter() - started.pop()))

    measured: dict[str, Any] = {}
    gc.callbacks.append(record)
    try:
        yield measured
    finally:
        gc.callbacks.remove(record)
        measured["load_generator_gc"] = {
            "collections": len(durations),
            "max_ms": round(max(durations, default=0.0), 1),
            "total_ms": round(sum(durations), 1),
        }
