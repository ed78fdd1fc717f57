"""Helpers for the limiter and quota tests: a harness for racing callers (threads sharing a client, and
forked processes with their own). Their settable clock is tests/clock.py's.

The naive check-then-increment below is what the atomic scripts replace; the tests run it through
the same harness to show that the harness does catch a race.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis


def naive_check_then_increment(client: redis.Redis, key: str, budget: int) -> bool:
    count = int(client.get(key) or 0)
    if count + 1 > budget:
        return False
    # The gap a busy process has anyway between check and increment, made wide enough that the
    # other callers, all running their own loops, read the same count inside it on every run.
    time.sleep(0.03)
    client.incrby(key, 1)
    return True


def in_threads(attempt: Callable[[], bool], *, threads: int = 8, attempts: int = 25) -> int:
    start = threading.Barrier(threads)

    def run() -> int:
        start.wait()
        return sum(attempt() for _ in range(attempts))

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda _: run(), range(threads)))


def in_processes(make_attempt: Callable[[], Callable[[], bool]], *, processes: int = 4, attempts: int = 50) -> int:
    """Each forked process builds its own client, waits for the others, then tries `attempts` times."""
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes), context.Queue()

    def run() -> None:
        attempt = make_attempt()
        start.wait()
        results.put(sum(attempt() for _ in range(attempts)))

    workers = [context.Process(target=run) for _ in range(processes)]
    for worker in workers:
        worker.start()
    admitted = sum(results.get(timeout=30) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return admitted
