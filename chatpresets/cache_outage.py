"""Using the cache (Redis) on the request path without depending on it.

Nothing a request reads needs the cache to be up: throttling counts there, and the preset content
cache is a copy of the database. So when Redis is down or paused, those callers carry on without
it (throttling lets the request through, content is read from the database) instead of answering
500. After one failure the cache is skipped for a second, so a Redis that hangs costs one socket
timeout per second and process, not one or two per request. Routes that truly need Redis (quotas)
answer 503 through their own store.
"""

from __future__ import annotations

import logging
from functools import partial

import redis

from chatpresets.breaker import Breaker

logger = logging.getLogger(__name__)

# What a cache call raises when Redis does not answer (redis-py's errors, or the socket's own).
CACHE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

BREAKER = Breaker(seconds=1.0, log=partial(logger.warning, "cache unreachable; %s goes on without it (%s: %s)"))
