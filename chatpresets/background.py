"""Hand a Celery task its work after the transaction commits, in every topology.

With a broker the task goes to it. Without one (the embedded run) a task called eagerly would
run inside the request that committed, so it runs on a background thread instead, unless
BACKGROUND_TASKS_INLINE asks for determinism (the tests).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import connections, transaction


def enqueue(task: Any, **kwargs: Any) -> None:
    """After commit: to the broker when there is one; without one, on a background thread so the
    answer is not delayed (or inline, when BACKGROUND_TASKS_INLINE asks for determinism)."""
    transaction.on_commit(lambda: dispatch(task, **kwargs))


def dispatch(task: Any, **kwargs: Any) -> None:
    """Now, by the same rules as `enqueue` (for callers outside a transaction, such as a sweep)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        task.delay(**kwargs)
    elif settings.BACKGROUND_TASKS_INLINE:
        task(**kwargs)
    else:
        threading.Thread(target=_closing_connections, args=(task,), kwargs=kwargs, daemon=True).start()


def _closing_connections(task: Any, **kwargs: Any) -> None:
    """Run a task on its own thread and hand the thread's connections back (to the pool) after."""
    try:
        task(**kwargs)
    finally:
        connections.close_all()
