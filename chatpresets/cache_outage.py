"""Using the cache (Redis) on the request path without depending on it.

Nothing a request reads needs the cache to be up: throttling counts there, and the preset content
cache is a copy of the database. So when Redis is down or paused, those callers carry on without
it (throttling lets the request through, content is read from the database) instead of answering
500. After one failure the cache is skipped for `retry_after_seconds`, so a Redis that hangs costs
one socket timeout per interval and process, not one or two per request. Routes that truly need
Redis (quotas) answer 503 through their own store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

logger = logging.getLogger(__name__)

# What a cache call raises when Redis does not answer (redis-py's errors, or the socket's own).
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)


class CacheBreaker:
    """Open (skip the cache) for a short while after a failure; logs once each time it opens."""

    def __init__(self, *, retry_after_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after_seconds = retry_after_seconds
        self.failures = 0  # failures seen by this process (for a metrics endpoint, and tests)
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0

    def available(self) -> bool:
        return self._clock() >= self._down_until

    def failed(self, error: BaseException, *, what: str) -> None:
        with self._lock:
            self.failures += 1
            was_available = self.available()
            self._down_until = self._clock() + self.retry_after_seconds
        if was_available:
            logger.warning("cache unreachable; %s goes on without it (%s: %s)", what, type(error).__name__, error)


BREAKER = CacheBreaker()
