"""How busy a step kept the machine, and how much of it the load generator itself took.

On these 2 cores the load generator shares the CPU with nginx, the web processes, PostgreSQL and
the rest: its own share is the part of every figure the service cannot be blamed for, nor see.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterator
from pathlib import Path

PROC_STAT = Path("/proc/stat")
IDLE_FIELDS = (3, 4)  # idle, iowait (of user nice system idle iowait irq softirq steal)


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of every core since boot, or None where /proc/stat is missing."""
    try:
        fields = [int(value) for value in PROC_STAT.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = sum(fields[i] for i in IDLE_FIELDS)
    return sum(fields) - idle, sum(fields)


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def measured() -> Iterator[dict[str, float | None]]:
    """The block's machine-wide busy share (all cores) and this process's CPU, as % of one core,
    filled in when the block ends."""
    usage: dict[str, float | None] = {"machine_busy_percent": None, "load_generator_cpu_percent": None}
    ticks, own, started = machine_ticks(), own_seconds(), time.perf_counter()
    yield usage
    elapsed = time.perf_counter() - started
    after = machine_ticks()
    if ticks is not None and after is not None and after[1] > ticks[1]:
        usage["machine_busy_percent"] = round(100 * (after[0] - ticks[0]) / (after[1] - ticks[1]), 1)
    if elapsed > 0:
        usage["load_generator_cpu_percent"] = round(100 * (own_seconds() - own) / elapsed, 1)
