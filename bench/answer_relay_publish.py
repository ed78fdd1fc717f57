"""Benchmark: what publishing an answer's deltas to Redis (conversations/answer_relay.py) adds per delta.

Run from the project root:

    DJANGO_ENV=test REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/answer_relay_publish.py

A stream of deltas is played on one event loop, as turns.stream_turn plays it to its listeners:
once with a no-op listener (the baseline), once with the Redis publisher as a listener. Deltas
come back to back (far faster than any model), 1 ms apart (a very fast model) and 20 ms apart (50
tokens a second, a typical model, and the fewest deltas per batch), and 100 answers at once 20 ms
apart (one writer per process gathers them all into one round trip). It prints the event loop's CPU
time added per delta and per batch by publishing (the writes run on the same loop, so this is
the cost the stream pays), the wall time per delta, the batches written, and how long after the
last delta its end reaches Redis.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from conversations import answer_relay  # noqa: E402

ROUNDS = 5


async def play(*, publish: bool, pace: float, deltas: int, streams: int) -> tuple[float, float, int, float]:
    """(CPU s, wall s, batches, end latency s) of `streams` answers of `deltas` deltas at once."""
    batches = 0
    send = answer_relay._Writer._send

    async def counted(writer: answer_relay._Writer, publishers: list) -> None:
        nonlocal batches
        batches += 1
        await send(writer, publishers)

    answer_relay._Writer._send = counted  # type: ignore[method-assign]
    publishers = [answer_relay.Publisher(str(uuid.uuid4())) if publish else None for _ in range(streams)]

    async def nothing(frame: dict) -> None:
        return None

    async def answer(publisher: answer_relay.Publisher | None) -> None:
        listener = publisher.frame if publisher is not None else nothing
        for seq in range(1, deltas + 1):
            await listener({"type": "delta", "message_id": "bench", "seq": seq, "text": "word "})
            await asyncio.sleep(pace)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(answer(publisher) for publisher in publishers))
    played_cpu, played_wall = time.process_time() - cpu, time.perf_counter() - wall
    ending = time.perf_counter()
    ending_publishers = [publisher for publisher in publishers if publisher is not None]
    for publisher in ending_publishers:
        publisher.close()
    await asyncio.gather(*(publisher.flushed.wait() for publisher in ending_publishers))
    answer_relay._Writer._send = send  # type: ignore[method-assign]
    return played_cpu, played_wall, batches, time.perf_counter() - ending


async def main() -> None:
    if not answer_relay.enabled():
        raise SystemExit("Set REDIS_URL: without Redis nothing is published.")
    print(f"batches of {settings.ANSWER_STREAM_BATCH_SECONDS * 1000:.0f} ms; medians of {ROUNDS} rounds")
    cases = (
        ("1 answer, back to back", 0.0, 2000, 1),
        ("1 answer, 1 ms apart", 0.001, 2000, 1),
        ("1 answer, 20 ms apart", 0.02, 150, 1),
        ("100 answers at once, 20 ms apart", 0.02, 100, 100),
    )
    for label, pace, per_answer, streams in cases:
        deltas = per_answer * streams
        runs = {
            flag: [await play(publish=flag, pace=pace, deltas=per_answer, streams=streams) for _ in range(ROUNDS)]
            for flag in (False, True)
        }
        base, published = runs[False], runs[True]

        def per_delta_us(runs: list[tuple], index: int, deltas: int = deltas) -> float:
            return statistics.median(run[index] for run in runs) / deltas * 1e6

        cpu_added = per_delta_us(published, 0) - per_delta_us(base, 0)
        wall_added = per_delta_us(published, 1) - per_delta_us(base, 1)
        batches = statistics.median(run[2] for run in published)
        end_ms = statistics.median(run[3] for run in published) * 1000
        print(
            f"{label} ({deltas} deltas): loop CPU +{cpu_added:.1f} µs/delta (baseline {per_delta_us(base, 0):.1f}), "
            f"+{cpu_added * deltas / batches:.0f} µs/batch; wall +{wall_added:.1f} µs/delta "
            f"(baseline {per_delta_us(base, 1):.1f}); {batches:.0f} batches; "
            f"end in Redis {end_ms:.1f} ms after the last delta"
        )


if __name__ == "__main__":
    asyncio.run(main())
