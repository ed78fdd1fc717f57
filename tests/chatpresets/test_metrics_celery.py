"""Celery tasks are timed and their failures counted, by task name."""

from __future__ import annotations

import pytest
from celery import shared_task

from chatpresets.observability import metrics
from conversations import tasks


@shared_task(name="tests.failing_task")
def failing_task() -> None:
    raise RuntimeError("this task always fails")


def sample(name: str, task: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"task": task}) or 0.0


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_ENABLED = True


@pytest.mark.django_db
def test_a_task_run_is_timed_by_its_name(metrics_on) -> None:
    name = tasks.purge_deleted_conversations.name
    before = sample("chatpresets_celery_task_duration_seconds_count", name)
    tasks.purge_deleted_conversations.apply()
    assert sample("chatpresets_celery_task_duration_seconds_count", name) == before + 1
    assert sample("chatpresets_celery_task_failures_total", name) == 0


def test_a_failing_task_is_counted(metrics_on) -> None:
    before = sample("chatpresets_celery_task_failures_total", "tests.failing_task")
    result = failing_task.apply(throw=False)  # as a worker runs it: the error is stored, not raised
    assert result.failed()
    assert sample("chatpresets_celery_task_failures_total", "tests.failing_task") == before + 1
