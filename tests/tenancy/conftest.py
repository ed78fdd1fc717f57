"""Fixtures of the limiter and quota tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    value = f"test-limits:{uuid.uuid4().hex[:12]}:"
    yield value
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{value}*"))
    if keys:
        client.delete(*keys)
    client.close()
