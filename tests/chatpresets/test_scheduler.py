"""The in-process scheduler: CELERY_BEAT_SCHEDULE runs without beat, each tick once across processes."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from chatpresets.scheduler import Periodic, Scheduler, from_beat_schedule
from conversations.models import Conversation, Message, MessageStatus, UsageDaily, UsageRecord
from presets.models import Preset
from presets.services import lifecycle
from tests.clock import Clock

MINUTE, HOUR = 60.0, 3600.0
START = 1_800_000_000.0  # a whole number of minutes and of hours since the epoch


def counted(calls: Counter, name: str) -> Callable[[], int]:
    lock = threading.Lock()

    def task() -> int:
        with lock:
            calls[name] += 1
        return 1

    return task


def test_a_due_tick_runs_each_task_then_waits_out_its_interval() -> None:
    calls, clock = Counter(), Clock(START)
    scheduler = Scheduler(
        [Periodic("minutely", counted(calls, "minutely"), MINUTE), Periodic("hourly", counted(calls, "hourly"), HOUR)],
        clock=clock,
    )
    assert scheduler.run_due() == ["minutely", "hourly"]
    clock.now += 59
    assert scheduler.run_due() == []
    clock.now += 1
    assert scheduler.run_due() == ["minutely"]
    clock.now = START + HOUR
    assert scheduler.run_due() == ["minutely", "hourly"]
    assert calls == {"minutely": 3, "hourly": 2}


def test_schedulers_sharing_the_redis_cache_run_each_tick_once(settings) -> None:
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    calls, clock = Counter(), Clock(START)
    tasks = [Periodic("sweep", counted(calls, "sweep"), MINUTE), Periodic("purge", counted(calls, "purge"), HOUR)]
    schedulers = [Scheduler(tasks, clock=clock) for _ in range(4)]  # four web processes
    for _ in range(3):
        barrier = threading.Barrier(len(schedulers))

        def tick(scheduler: Scheduler, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            scheduler.run_due()

        threads = [threading.Thread(target=tick, args=(scheduler,)) for scheduler in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        clock.now += MINUTE
    assert calls == {"sweep": 3, "purge": 1}


def test_a_failing_task_is_logged_and_the_others_still_run(caplog) -> None:
    calls = Counter()

    def broken() -> int:
        raise RuntimeError("the database went away")

    scheduler = Scheduler(
        [Periodic("broken", broken, MINUTE), Periodic("fine", counted(calls, "fine"), MINUTE)], clock=Clock(START)
    )
    with caplog.at_level(logging.ERROR, logger="chatpresets.scheduler"):
        assert scheduler.run_due() == ["broken", "fine"]
    assert calls == {"fine": 1}
    assert "periodic task broken failed" in caplog.text
    assert "the database went away" in caplog.text


def test_with_the_cache_down_a_tick_still_runs() -> None:
    calls = Counter()
    unreachable = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2}})
    scheduler = Scheduler(
        [Periodic("sweep", counted(calls, "sweep"), MINUTE)], lock_cache=unreachable, clock=Clock(START)
    )
    assert scheduler.run_due() == ["sweep"]
    assert calls == {"sweep": 1}


def test_the_background_thread_ticks_at_start_and_stops() -> None:
    ran = threading.Event()

    def task() -> int:
        ran.set()
        return 1

    scheduler = Scheduler([Periodic("sweep", task, MINUTE)], clock=Clock(START))
    scheduler.start(poll_seconds=0.05)
    try:
        assert ran.wait(timeout=5)
    finally:
        scheduler.stop()
    assert not scheduler.thread.is_alive()


def test_every_beat_entry_imports_a_celery_task_registered_under_that_name(settings) -> None:
    # Beat sends the name and a worker looks it up: the scheduler imports by the same name.
    entries = from_beat_schedule(settings.CELERY_BEAT_SCHEDULE)
    assert [periodic.task.name for periodic in entries] == [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
    sweep = next(periodic for periodic in entries if periodic.name == "sweep-abandoned-streams")
    assert sweep.interval == settings.STREAM_SWEEP_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_due_tick_of_the_real_schedule_runs_every_periodic_task(settings, acme, alice) -> None:
    from tests.presets_world import make_preset

    long_ago = timezone.now() - timedelta(days=31)
    trashed = lifecycle.preset_delete(preset=make_preset(acme, alice, "old"), actor=alice)
    Preset.objects.filter(pk=trashed.pk).update(deleted_at=long_ago)
    deleted = Conversation.objects.create(org=acme, user=alice, deleted_at=long_ago)
    yesterday = timezone.now() - timedelta(days=1)
    usage = UsageRecord.objects.create(org=acme, user=alice, model="fake", kind="chat", status="complete")
    UsageRecord.objects.filter(pk=usage.pk).update(created_at=yesterday)
    chat = Conversation.objects.create(org=acme, user=alice)
    lost = Message.objects.create(org=acme, conversation=chat, seq=1, role="assistant", status=MessageStatus.STREAMING)
    Message.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    ran = Scheduler(from_beat_schedule(settings.CELERY_BEAT_SCHEDULE)).run_due()

    assert sorted(ran) == sorted(settings.CELERY_BEAT_SCHEDULE)
    assert not Preset.objects.filter(pk=trashed.pk).exists()
    assert not Conversation.objects.filter(pk=deleted.pk).exists()
    assert UsageDaily.objects.filter(org=acme, day=yesterday.date()).get().requests == 1
    lost.refresh_from_db()
    assert (lost.status, lost.error_code) == ("interrupted", "worker_lost")
