"""Periodic tasks without Celery beat: the web process runs CELERY_BEAT_SCHEDULE on a background thread.

With a broker, `celery -A chatpresets beat` runs the schedule and PERIODIC_TASKS_INLINE is off by
default. Without one (the embedded run, a single-process deployment) nothing else would, so the
ASGI application starts this scheduler. Time is cut into slots of each task's interval counted
from the epoch, so every process agrees on which tick is which, and a cache lock per task and
slot (`cache.add`) lets one process run a tick: through Redis that is one process in all; with
the local-memory cache it is one per process, which is right for the one process that uses it.
Every task in the schedule is idempotent, so a duplicate run (cache down) is harmless.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, cache
from django.db import connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

LOCK_PREFIX = "periodic-task"
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Periodic:
    """One schedule entry: a task callable (a Celery task runs in-process when called) and its interval."""

    name: str
    task: Callable[..., Any]
    interval: float
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def from_beat_schedule(schedule: Mapping[str, Mapping[str, Any]]) -> list[Periodic]:
    """CELERY_BEAT_SCHEDULE's entries, each task imported by its registered name (`module.function`)."""
    entries = []
    for name, entry in schedule.items():
        every = entry["schedule"]
        interval = every.total_seconds() if isinstance(every, timedelta) else float(every)
        entries.append(Periodic(name, import_string(entry["task"]), interval, entry.get("kwargs", {})))
    return entries


class Scheduler:
    """Runs each due task once per slot of its interval, across every process that shares the cache."""

    def __init__(
        self, tasks: list[Periodic], *, lock_cache: BaseCache = cache, clock: Callable[[], float] = time.time
    ) -> None:
        self.tasks, self.lock_cache, self.clock = tasks, lock_cache, clock
        self.handled: dict[str, int] = {}  # task name → the last slot this process ran or saw taken
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def run_due(self) -> list[str]:
        """Run, in this thread, every task whose current slot is unclaimed; returns the names it ran."""
        now, ran = self.clock(), []
        for periodic in self.tasks:
            slot = math.floor(now / periodic.interval)
            if self.handled.get(periodic.name, -1) >= slot:
                continue
            self.handled[periodic.name] = slot
            if self._claim(periodic, slot):
                self._run(periodic)
                ran.append(periodic.name)
        return ran

    def start(self, *, poll_seconds: float = POLL_SECONDS) -> None:
        """Tick on a daemon thread: at once (a restart sweeps what a crash left), then every poll."""
        self.thread = threading.Thread(target=self._loop, args=(poll_seconds,), name="periodic-tasks", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _loop(self, poll_seconds: float) -> None:
        while not self.stopping.is_set():
            try:
                self.run_due()
            except Exception:  # the thread must outlive any one bad tick
                logger.exception("periodic task tick failed")
            self.stopping.wait(poll_seconds)

    def _claim(self, periodic: Periodic, slot: int) -> bool:
        key = f"{LOCK_PREFIX}:{periodic.name}:{slot}"
        try:  # the lock outlives its slot a little, for processes whose clocks lag
            return bool(self.lock_cache.add(key, 1, timeout=math.ceil(periodic.interval) * 2))
        except Exception as error:  # the cache is down: a duplicate run beats a missed one
            logger.warning("periodic task %s runs unlocked: cache unavailable (%s)", periodic.name, error)
            return True

    def _run(self, periodic: Periodic) -> None:
        started = time.monotonic()
        try:
            result = periodic.task(**periodic.kwargs)
        except Exception:  # one failing task never stops the others or the next tick
            logger.exception("periodic task %s failed", periodic.name)
        else:
            level = logging.INFO if result else logging.DEBUG
            elapsed_ms = (time.monotonic() - started) * 1000
            logger.log(level, "periodic task %s: %s (%.0f ms)", periodic.name, result, elapsed_ms)
        finally:
            connections.close_all()  # each run gets its own connection; none is held between ticks


_running: Scheduler | None = None
_start_lock = threading.Lock()


def start_if_enabled() -> Scheduler | None:
    """Start the process's scheduler once, when PERIODIC_TASKS_INLINE asks for it."""
    global _running
    if not settings.PERIODIC_TASKS_INLINE:
        return None
    with _start_lock:
        if _running is None:
            _running = Scheduler(from_beat_schedule(settings.CELERY_BEAT_SCHEDULE))
            _running.start()
            logger.info("periodic tasks run in this process: %s", ", ".join(t.name for t in _running.tasks))
    return _running
