"""Shared Redis plumbing for the limits: one client per process (sync) and per event loop (async).

redis.asyncio connections belong to the loop that opened them, so an async client is kept per
running loop and forgotten once that loop is closed. Timeouts are short and nothing is retried:
a guardrail that waits for Redis would be slower than the thing it guards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript, Script
from redis.retry import Retry

# Errors that mean "Redis did not answer"; a script bug (ResponseError) is a RedisError too and is
# treated the same way, because neither guardrail may raise a Redis exception to its caller.
REDIS_FAILURES: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
DEFAULT_TIMEOUT_SECONDS = 0.25
LUA_DIR = Path(__file__).with_name("lua")


def lua(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text()


@dataclass(frozen=True)
class SyncBinding:
    client: redis.Redis
    scripts: Mapping[str, Script]


@dataclass(frozen=True)
class AsyncBinding:
    client: redis.asyncio.Redis
    scripts: Mapping[str, AsyncScript]


class RedisClients:
    """Lazily built clients for one URL with the given Lua scripts registered (EVALSHA, loaded on NOSCRIPT).

    Thread-safe. The sync client's pool is fork-safe (redis-py resets it in a child process).
    """

    def __init__(
        self, *, url: str, scripts: Mapping[str, str], timeout_seconds: float, max_connections: int = 50
    ) -> None:
        self.url = url
        self._sources = dict(scripts)
        self._timeout = timeout_seconds
        self._max_connections = max_connections
        self._lock = threading.Lock()
        self._sync: SyncBinding | None = None
        self._async: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], AsyncBinding]] = {}

    def sync(self) -> SyncBinding:
        with self._lock:
            if self._sync is None:
                pool = redis.BlockingConnectionPool.from_url(
                    self.url, **self._pool_options(), retry=Retry(NoBackoff(), 0)
                )
                client = redis.Redis.from_pool(pool)
                scripts = {name: client.register_script(source) for name, source in self._sources.items()}
                self._sync = SyncBinding(client=client, scripts=scripts)
            return self._sync

    def for_running_loop(self) -> AsyncBinding:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._forget_closed_loops()
            entry = self._async.get(id(loop))
            if entry is not None and entry[0]() is loop:
                return entry[1]
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self.url, **self._pool_options(), retry=AsyncRetry(NoBackoff(), 0)
            )
            client = redis.asyncio.Redis.from_pool(pool)
            scripts = {name: client.register_script(source) for name, source in self._sources.items()}
            binding = AsyncBinding(client=client, scripts=scripts)
            self._async[id(loop)] = (weakref.ref(loop), binding)
            return binding

    def _pool_options(self) -> dict[str, float | int]:
        # A blocking pool: under a burst, callers queue briefly for a connection instead of failing
        # with "Too many connections" (which would count as an outage); the wait is one timeout.
        return {
            "max_connections": self._max_connections,
            "timeout": self._timeout,
            "socket_timeout": self._timeout,
            "socket_connect_timeout": self._timeout,
        }

    def _forget_closed_loops(self) -> None:
        # A closed loop's connections cannot be closed any more; dropping them lets them be collected.
        for loop_id, (ref, _binding) in list(self._async.items()):
            loop = ref()
            if loop is None or loop.is_closed():
                del self._async[loop_id]

    def close(self) -> None:
        """Close the sync client (the next call opens a new one)."""
        with self._lock:
            binding, self._sync = self._sync, None
        if binding is not None:
            binding.client.close()

    async def aclose(self) -> None:
        """Close the running loop's async client (tests call this before their loop ends)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.pop(id(loop), None)
        if entry is not None:
            await entry[1].client.aclose()


class LogThrottle:
    """Says yes at most once per interval, so an outage logs a line every few seconds, not per request."""

    def __init__(self, *, interval_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None

    def ready(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self.interval_seconds:
                return False
            self._last = now
            return True


class Counters:
    """Process-level counters for a /metrics endpoint to export; increments are thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}

    def increment(self, name: str, *, by: int = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + by

    def get(self, name: str) -> int:
        with self._lock:
            return self._values.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)


METRICS = Counters()


def warn_throttled(*, logger: logging.Logger, throttle: LogThrottle, message: str, error: BaseException) -> None:
    if throttle.ready():
        logger.warning("%s (%s: %s)", message, type(error).__name__, error)


T = TypeVar("T")


class PerRedisUrl(Generic[T]):
    """One shared instance per process for the current `settings.REDIS_URL` (read at each call,
    so a test that points the URL elsewhere gets a fresh instance, and the old one stays intact)."""

    def __init__(self, make: Callable[[str], T]) -> None:
        self._make = make
        self._made: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self) -> T:
        from django.conf import settings

        url = settings.REDIS_URL
        with self._lock:
            if url not in self._made:
                self._made[url] = self._make(url)
            return self._made[url]

    def forget(self, url: str) -> None:
        with self._lock:
            self._made.pop(url, None)
