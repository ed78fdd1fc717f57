"""What the chat path's instrumentation costs with metrics and tracing off, per call, in process.

The on-against-off bench (bench/observability_overhead.py) measures whole turns, where a few
microseconds drown in the noise; this one times the calls themselves: a metric update while
METRICS_ENABLED is off, and a turn stage (`timing.stage`) outside a turn, in one, and nested,
each over many calls (best of several repeats), with the memory they leave behind.

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        .venv/bin/python -m bench.observability_off_path
"""

from __future__ import annotations

import os
import timeit
import tracemalloc
from collections.abc import Callable

CALLS = 200_000
REPEATS = 5


def per_call(action: Callable[[], None]) -> tuple[float, int]:
    """Nanoseconds per call (best repeat) and the bytes 1,000 more calls leave allocated."""
    best = min(timeit.repeat(action, number=CALLS, repeat=REPEATS)) / CALLS * 1e9
    action()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(1000):
        action()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # The snapshots themselves and tracemalloc's own frames are not the calls' memory.
    left = sum(stat.size_diff for stat in after.compare_to(before, "filename") if "tracemalloc" not in str(stat))
    return best, left


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
    import django

    django.setup()
    from django.conf import settings

    from chatpresets.observability import metrics, timing, tracing

    settings.METRICS_ENABLED = False
    assert not tracing.active(), "tracing is configured in this process: unset OTEL_EXPORTER_OTLP_ENDPOINT"

    def metric_update() -> None:
        metrics.CHAT_TURNS.labels("v1", "complete").inc()

    def one_stage() -> None:
        with timing.stage("context"):
            pass

    def nested_stages() -> None:
        with timing.stage("context"), timing.stage("guardrails"):
            pass

    rows = [("metric update, metrics off", per_call(metric_update)), ("stage, outside a turn", per_call(one_stage))]
    turn = timing.begin_turn("v1")
    try:
        rows += [("stage, in a turn", per_call(one_stage)), ("two nested stages, in a turn", per_call(nested_stages))]
    finally:
        timing.leave(turn)
    for name, (nanoseconds, left) in rows:
        print(f"{name:30s} {nanoseconds:8.0f} ns/call   {left:6d} B left after 1,000 calls")


if __name__ == "__main__":
    main()
