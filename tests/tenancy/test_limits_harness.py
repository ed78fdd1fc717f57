"""The racing harness the limiter and quota tests share does catch a race."""

from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings

from tests.tenancy.limits_harness import in_processes, in_threads, naive_check_then_increment

BUDGET = 50


def test_the_harness_catches_a_naive_check_then_increment(prefix: str) -> None:
    key = f"{prefix}naive"

    def make_attempt() -> Callable[[], bool]:
        client = redis.Redis.from_url(settings.REDIS_URL)
        return lambda: naive_check_then_increment(client, key, BUDGET)

    assert in_processes(make_attempt) > BUDGET
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(key)
    assert in_threads(lambda: naive_check_then_increment(client, key, BUDGET)) > BUDGET
    client.close()
