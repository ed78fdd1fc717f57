"""How busy a step kept the machine, how much of it the load generator itself took, and where the rest went.

On these 2 cores the load generator shares the CPU with nginx, the web processes, PostgreSQL and
the rest: its own share is the part of every figure the service cannot be blamed for, nor see. The
CPU of each part of the topology per answered turn (from /proc/<pid>/stat) is what sizes it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
IDLE_FIELDS = (3, 4)  # idle, iowait (of user nice system idle iowait irq softirq steal)
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# The parts of the topology, by what their command line holds, first match wins.
PARTS = (
    ("daphne", "web"),
    ("celery", "celery"),
    ("fake_llm", "model (fake)"),
    ("nginx", "nginx"),
    ("postgres", "postgresql"),
    ("redis-server", "redis"),
    ("beam.smp", "rabbitmq"),
)


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of every core since boot, or None where /proc/stat is missing."""
    try:
        fields = [int(value) for value in PROC_STAT.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = sum(fields[i] for i in IDLE_FIELDS)
    return sum(fields) - idle, sum(fields)


def part(command: str) -> str:
    """The part of the topology a process with this command line is (`other` for the rest)."""
    return next((name for marker, name in PARTS if marker in command), "other")


def processes_seconds() -> dict[int, tuple[str, float]]:
    """Each live process's part and the CPU seconds (user and system) it has used; this one is the load generator."""
    seconds: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        pid = int(entry.name)
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        name = "load generator" if pid == os.getpid() else part(command.replace(b"\0", b" ").decode())
        seconds[pid] = (name, (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND)
    return seconds


def parts_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per part between two readings: a process that started between them counts whole, one
    that ended between them not at all (its use is gone with it)."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        earlier = before.get(pid)
        used[name] = used.get(name, 0.0) + seconds - (earlier[1] if earlier and earlier[0] == name else 0.0)
    return used


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def measured() -> Iterator[dict[str, Any]]:
    """The block's machine-wide busy share (all cores), this process's CPU as % of one core, and each
    part's CPU in ms per second (`cpu_ms_per_s`), filled in when the block ends."""
    usage: dict[str, Any] = {"machine_busy_percent": None, "load_generator_cpu_percent": None}
    # The reading of every process (3 ms of this one's CPU for 82 processes here, more on a busier
    # machine) stays out of the window the load generator's own share is taken over.
    processes = processes_seconds()
    ticks, own, started = machine_ticks(), own_seconds(), time.perf_counter()
    yield usage
    elapsed = time.perf_counter() - started
    own_used, after = own_seconds() - own, machine_ticks()
    used = parts_used(processes, processes_seconds())
    usage["cpu_ms_per_s"] = {name: round(1000 * value / elapsed) for name, value in sorted(used.items()) if value > 0}
    if ticks is not None and after is not None and after[1] > ticks[1]:
        usage["machine_busy_percent"] = round(100 * (after[0] - ticks[0]) / (after[1] - ticks[1]), 1)
    if elapsed > 0:
        usage["load_generator_cpu_percent"] = round(100 * own_used / elapsed, 1)
