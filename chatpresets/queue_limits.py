"""How full each background queue is, against its limit (CELERY_QUEUE_MAX_DEPTH).

With a broker the depth is the queue's ready messages, read with a passive queue_declare through
kombu (RabbitMQ's message_count; LLEN on a Redis broker) and cached for
CELERY_QUEUE_DEPTH_CACHE_SECONDS, so a burst of turns costs the broker one round trip a second.
Without one (the embedded run) the depth is the queue's tasks running on background threads in
this process. A queue that does not exist yet holds nothing.

A broker that cannot be reached (its depth unreadable, or a publish refused) refuses all background
work for RETRY_AFTER_SECONDS, as a full queue does: a request that needs the work fails before it
stores anything, work the product can do without is skipped, and no request waits on the broker's
connection retries meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import kombu.exceptions
from django.conf import settings
from rest_framework import status

from chatpresets.breaker import Breaker
from chatpresets.errors import DomainError
from chatpresets.observability import metrics

logger = logging.getLogger(__name__)

_cached: dict[str, tuple[float, int]] = {}  # queue → (when read, depth)
_running: dict[str, int] = {}  # queue → tasks running on this process's background threads
_lock = threading.Lock()
RETRY_AFTER_SECONDS = 5
# Every failure is logged, not only the one that opens the breaker: each names a task refused.
BREAKER = Breaker(
    seconds=RETRY_AFTER_SECONDS,
    log=partial(logger.error, "broker unreachable, %s refused: %s: %s"),
    log_every_failure=True,
)


class QueueFull(DomainError):
    code = "queue_full"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "Background work is backed up; retry shortly."

    def __init__(self, *, queue: str) -> None:
        self.retry_after_seconds = RETRY_AFTER_SECONDS
        super().__init__(details={"queue": queue, "retry_after": RETRY_AFTER_SECONDS})


class BrokerUnreachable(QueueFull):
    code = "queue_unavailable"
    message = "Background work cannot be queued right now; retry shortly."


def queue_of(task: Any) -> str:
    """The queue the task's app routes it to (CELERY_TASK_ROUTES, else the default queue)."""
    route = task.app.amqp.router.route({}, task.name)
    return route["queue"].name


def refuse_if_full(task: Any) -> None:
    """Raise QueueFull (logged and counted) when the task's queue is at its limit, or its subclass
    BrokerUnreachable while the broker was lately found unreachable."""
    queue = queue_of(task)
    if not settings.CELERY_TASK_ALWAYS_EAGER and not BREAKER.available():
        metrics.QUEUE_REFUSALS.labels(queue).inc()
        raise BrokerUnreachable(queue=queue)
    limit = settings.CELERY_QUEUE_MAX_DEPTH.get(queue, 0)
    if not limit:
        return
    depth = _depth(task, queue)
    if depth >= limit:
        metrics.QUEUE_REFUSALS.labels(queue).inc()
        logger.warning("queue %s is full (%d of %d): %s refused", queue, depth, limit, task.name)
        raise QueueFull(queue=queue)


def _depth(task: Any, queue: str) -> int:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return _running.get(queue, 0)
    now = time.monotonic()
    cached = _cached.get(queue)
    if cached is not None and now - cached[0] < settings.CELERY_QUEUE_DEPTH_CACHE_SECONDS:
        return cached[1]
    connection = task.app.connection_for_write()
    # Connecting raises kombu's own error; a read on the channel may raise the transport's.
    unreachable_errors = (kombu.exceptions.OperationalError, *connection.connection_errors)
    try:
        depth = _read_depth(connection, queue)
    except unreachable_errors as error:
        unreachable(queue, task, error)
        raise BrokerUnreachable(queue=queue) from error
    _cached[queue] = (now, depth)
    return depth


def unreachable(queue: str, task: Any, error: BaseException) -> None:
    """The broker refused `task`'s work: refuse everything at once for RETRY_AFTER_SECONDS (counted, logged)."""
    metrics.QUEUE_REFUSALS.labels(queue).inc()
    BREAKER.failed(error, what=task.name)


def broker_depth(app: Any, queue: str) -> int:
    """Messages ready in `queue` on the app's broker; 0 for a queue not declared yet; the connection's
    error when the broker cannot be reached."""
    return _read_depth(app.connection_for_write(), queue)


def _read_depth(connection: Any, queue: str) -> int:
    # One attempt: kombu would otherwise sleep two seconds and try again, on the request's thread.
    with connection, connection.ensure_connection(max_retries=0).channel() as channel:
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        except connection.channel_errors as error:
            if getattr(error, "reply_code", None) == 404 or "NOT_FOUND" in str(error):
                return 0
            raise


def count_running(task: Any) -> Callable[[], None]:
    """Count a task as running on a background thread of this process; call what it returns when it ends."""
    queue = queue_of(task)
    with _lock:
        _running[queue] = _running.get(queue, 0) + 1

    def finished() -> None:
        with _lock:
            _running[queue] -= 1

    return finished


def forget_cached_depths() -> None:
    """Read every depth afresh, and try the broker again (tests that fill a queue or stop the broker)."""
    _cached.clear()
    BREAKER.reset()
