"""Background work is refused, visibly, once its queue holds CELERY_QUEUE_MAX_DEPTH: on the real
RabbitMQ here, on a Redis broker, and in the embedded run (the background threads); and while its
broker cannot be reached (a port nothing listens on)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from django.conf import settings as django_settings

from chatpresets import background, queue_limits
from chatpresets.celery import app as project_app
from chatpresets.observability import metrics
from tests.server import free_port

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def refusals(queue: str) -> float:
    return metrics.REGISTRY.get_sample_value("chatpresets_celery_queue_refusals_total", {"queue": queue}) or 0.0


def _noop(**kwargs: object) -> None:
    return None


def limited_app(name: str, broker: str, queue_name: str, settings) -> Celery:
    """A Celery app on `broker` whose one task is routed to this test's queue, limited to 2."""
    app = Celery(name, broker=broker)
    app.conf.task_routes = {"tests.limited": {"queue": queue_name}}
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_QUEUE_MAX_DEPTH = {queue_name: 2}
    settings.CELERY_QUEUE_DEPTH_CACHE_SECONDS = 0
    settings.METRICS_ENABLED = True
    app.task(name="tests.limited")(_noop)
    return app


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"  # a queue of this test's own on the shared broker


@pytest.fixture(params=["rabbitmq", "redis"])
def brokered(request, settings, queue_name) -> Iterator[Celery]:
    """`limited_app` on a real broker: the RabbitMQ here, or Redis."""
    url = RABBITMQ if request.param == "rabbitmq" else django_settings.REDIS_URL
    app = limited_app(f"limits-{queue_name}", url, queue_name, settings)
    yield app
    with app.connection_for_write() as connection, connection.channel() as channel:
        channel.queue_delete(queue_name)
    queue_limits.forget_cached_depths()


def test_a_full_broker_queue_refuses_new_work_and_counts_it(brokered, queue_name, caplog) -> None:
    limited = brokered.tasks["tests.limited"]
    background.dispatch(limited, n=1)
    background.dispatch(limited, n=2)
    assert queue_limits.broker_depth(brokered, queue_name) == 2
    before = refusals(queue_name)
    with caplog.at_level(logging.WARNING, logger="chatpresets.queue_limits"), pytest.raises(queue_limits.QueueFull):
        background.dispatch(limited, n=3)
    assert refusals(queue_name) == before + 1
    assert f"queue {queue_name} is full" in caplog.text
    assert queue_limits.broker_depth(brokered, queue_name) == 2  # nothing more was queued
    with brokered.connection_for_write() as connection, connection.channel() as channel:
        channel.queue_purge(queue_name)  # a worker catches up
    background.dispatch(limited, n=4)
    assert queue_limits.broker_depth(brokered, queue_name) == 1


def test_the_depth_is_read_once_per_cache_period(brokered, queue_name, settings) -> None:
    settings.CELERY_QUEUE_DEPTH_CACHE_SECONDS = 60
    limited = brokered.tasks["tests.limited"]
    for n in range(3):  # the depth read before the first (0) stands for the minute
        background.dispatch(limited, n=n)
    assert queue_limits.broker_depth(brokered, queue_name) == 3


def test_a_queue_not_declared_yet_holds_nothing(brokered) -> None:
    assert queue_limits.broker_depth(brokered, f"never-{uuid.uuid4().hex}") == 0


def test_without_a_broker_the_limit_counts_the_background_threads(settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER, settings.BACKGROUND_TASKS_INLINE = True, False
    app = Celery("embedded-limits")
    app.conf.task_routes = {"tests.embedded": {"queue": "embedded"}}
    settings.CELERY_QUEUE_MAX_DEPTH = {"embedded": 1}
    release, ran = threading.Event(), threading.Event()

    @app.task(name="tests.embedded")
    def blocking() -> None:
        ran.set()
        release.wait(10)

    background.dispatch(blocking)
    with pytest.raises(queue_limits.QueueFull):
        background.dispatch(blocking)  # counted from its start, not from when its thread runs
    release.set()
    assert ran.wait(5)
    for _ in range(50):
        try:
            background.dispatch(blocking)
            break
        except queue_limits.QueueFull:
            threading.Event().wait(0.1)  # the first thread is still ending
    else:
        pytest.fail("the queue stayed full after its task ended")


@pytest.fixture
def unreachable(settings, queue_name) -> Iterator[Celery]:
    """A Celery app whose broker refuses every connection (nothing listens on its port), routed as `brokered`."""
    app = limited_app(f"down-{queue_name}", f"amqp://guest:guest@127.0.0.1:{free_port()}//", queue_name, settings)
    queue_limits.forget_cached_depths()
    yield app
    queue_limits.forget_cached_depths()
    project_app.set_current()  # a publish made this app the current one, which the project's shared tasks follow


def test_an_unreachable_broker_refuses_work_with_503_at_once(unreachable, queue_name, caplog) -> None:
    limited = unreachable.tasks["tests.limited"]
    before = refusals(queue_name)
    started = time.monotonic()
    logged = caplog.at_level(logging.ERROR, logger="chatpresets.queue_limits")
    with logged, pytest.raises(queue_limits.BrokerUnreachable) as refused:
        background.dispatch(limited, n=1)
    assert time.monotonic() - started < 1.5  # one connection attempt; kombu alone would sleep 2 s and retry
    assert refused.value.status_code == 503
    assert refused.value.code == "queue_unavailable"
    assert refused.value.details == {"queue": queue_name, "retry_after": queue_limits.RETRY_AFTER_SECONDS}
    assert f"broker unreachable, {limited.name} refused" in caplog.text
    assert not background.enqueue_if_room(limited, n=2)  # optional work is skipped, not raised
    assert refusals(queue_name) == before + 2


def test_work_is_refused_without_asking_the_broker_until_its_retry_time(unreachable, brokered, queue_name) -> None:
    with pytest.raises(queue_limits.BrokerUnreachable):
        background.dispatch(unreachable.tasks["tests.limited"], n=1)
    reachable = brokered.tasks["tests.limited"]  # the same queue on a broker that answers
    with pytest.raises(queue_limits.BrokerUnreachable):
        background.dispatch(reachable, n=2)
    queue_limits.forget_cached_depths()  # the retry time has passed
    background.dispatch(reachable, n=3)
    assert queue_limits.broker_depth(brokered, queue_name) == 1  # only the work sent after it


@pytest.mark.django_db
def test_a_publish_refused_after_commit_keeps_the_committed_writes(
    unreachable, queue_name, settings, caplog, django_capture_on_commit_callbacks
) -> None:
    """A queue without a limit reads no depth, so the broker's refusal comes with the publish, after the commit."""
    settings.CELERY_QUEUE_MAX_DEPTH = {}
    limited = unreachable.tasks["tests.limited"]
    logged = caplog.at_level(logging.ERROR, logger="chatpresets.queue_limits")
    with logged, django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert background.enqueue_if_room(limited, n=1)  # accepted: nothing said the broker was down
    assert len(callbacks) == 1  # it ran, and its refusal did not escape into the committed request
    assert f"broker unreachable, {limited.name} refused" in caplog.text
    assert not background.enqueue_if_room(limited, n=2)  # now known: refused before any write
