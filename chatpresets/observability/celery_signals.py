"""Celery task run time and failures by task name (bounded: the registered tasks).

Connected in worker processes (chatpresets/celery.py) and, for eager tasks, by the web process's
startup; the run time is measured between `task_prerun` and `task_postrun` in the process that
runs the task.
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun

from chatpresets.observability import metrics

_started: dict[str, float] = {}


def _task_name(task: Any) -> str:
    return getattr(task, "name", None) or "unknown"


def on_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is not None and metrics.enabled():
        _started[task_id] = time.perf_counter()


def on_postrun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None) if task_id is not None else None
    if started is not None:
        metrics.TASK_DURATION.labels(_task_name(task)).observe(time.perf_counter() - started)


def on_failure(sender: Any = None, **kwargs: Any) -> None:
    metrics.TASK_FAILURES.labels(_task_name(sender)).inc()


def connect() -> None:
    """Idempotent: Celery keeps one receiver per `dispatch_uid`."""
    task_prerun.connect(on_prerun, dispatch_uid="chatpresets-metrics-prerun", weak=False)
    task_postrun.connect(on_postrun, dispatch_uid="chatpresets-metrics-postrun", weak=False)
    task_failure.connect(on_failure, dispatch_uid="chatpresets-metrics-failure", weak=False)
