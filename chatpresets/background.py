"""Hand a Celery task its work after the transaction commits, in every topology, within its queue's limit.

With a broker the task goes to it. Without one (the embedded run) a task called eagerly would
run inside the request that committed, so it runs on a background thread instead, unless
BACKGROUND_TASKS_INLINE asks for determinism (the tests).

Each queue has a depth limit (CELERY_QUEUE_MAX_DEPTH, chatpresets/queue_limits.py): work for a
full queue is refused at once, logged and counted, rather than queued forever. `enqueue` and
`dispatch` raise QueueFull (503 `queue_full`: a user's request that needs the work fails and
stores nothing); `enqueue_if_room` is for work the product can do without (a running summary,
a title, a webhook delivery its sweep retries) and only says whether it was queued. A broker that
cannot be reached refuses the same way (BrokerUnreachable, 503 `queue_unavailable`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import kombu.exceptions
from django.conf import settings
from django.db import connections, transaction

from chatpresets import queue_limits


def enqueue(task: Any, **kwargs: Any) -> None:
    """After commit: to the broker when there is one; without one, on a background thread so the
    answer is not delayed (or inline, when BACKGROUND_TASKS_INLINE asks for determinism).
    A full queue raises QueueFull now, so the caller's transaction rolls back."""
    queue_limits.refuse_if_full(task)
    transaction.on_commit(lambda: _send_committed(task, **kwargs))


def enqueue_if_room(task: Any, **kwargs: Any) -> bool:
    """As `enqueue`, for optional work: False (refusal logged and counted) when the queue is full."""
    try:
        enqueue(task, **kwargs)
    except queue_limits.QueueFull:
        return False
    return True


def dispatch(task: Any, **kwargs: Any) -> None:
    """Now, by the same rules as `enqueue` (for callers outside a transaction, such as a sweep)."""
    queue_limits.refuse_if_full(task)
    _send(task, **kwargs)


def _send_committed(task: Any, **kwargs: Any) -> None:
    """_send once the caller's writes are committed: a refused publish must not fail them after the fact.
    The work is lost only where the product can do without it or a sweep finds it again (replays,
    webhook deliveries); `_send` has logged and counted it."""
    with contextlib.suppress(queue_limits.BrokerUnreachable):
        _send(task, **kwargs)


def _send(task: Any, **kwargs: Any) -> None:
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        try:
            task.delay(**kwargs)
        except kombu.exceptions.OperationalError as error:  # kombu's publish, after its own retries
            queue = queue_limits.queue_of(task)
            queue_limits.unreachable(queue, task, error)
            raise queue_limits.BrokerUnreachable(queue=queue) from error
    elif settings.BACKGROUND_TASKS_INLINE:
        task(**kwargs)
    else:
        finished = queue_limits.count_running(task)  # counted from now: a burst sees the threads it starts
        threading.Thread(target=_closing_connections, args=(task, finished), kwargs=kwargs, daemon=True).start()


def _closing_connections(task: Any, finished: Callable[[], None], **kwargs: Any) -> None:
    """Run a task on its own thread and hand the thread's connections back (to the pool) after."""
    try:
        task(**kwargs)
    finally:
        finished()
        connections.close_all()
