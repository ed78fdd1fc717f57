"""Atomic multi-limit rate limiting (GCRA) on Redis that fails open to an in-process limiter.

Use: `decision = get_rate_limiter().check(limits=[Limit("rl:user:7:rpm", 60, 60), ...])` in sync code,
`await ....acheck(limits=...)` on the event loop. Every limit of one check is tested and charged in
one Lua script on the server's clock: all are charged or none. While Redis is unreachable the
process's own limiter decides (so each process enforces the limits on its own: N processes admit up
to N times as much), a warning is logged at most every 10 s and METRICS counts the decisions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from tenancy.metering.clients import (
    DEFAULT_TIMEOUT_SECONDS,
    METRICS,
    REDIS_FAILURES,
    LogThrottle,
    PerRedisUrl,
    RedisClients,
    lua,
    warn_throttled,
)
from tenancy.metering.gcra import (
    ALLOW_EVERYTHING,
    NEVER,
    Decision,
    Limit,
    MemoryRateLimiter,
    check_unique_keys,
)

__all__ = ["FAIL_OPEN_METRIC", "METRICS", "REDIS_ERROR_METRIC", "Decision", "Limit", "RateLimiter", "get_rate_limiter"]

logger = logging.getLogger(__name__)

FAIL_OPEN_METRIC = "ratelimit_fail_open_decisions_total"
REDIS_ERROR_METRIC = "ratelimit_redis_errors_total"
SCRIPTS = {"check": lua("ratelimit_check"), "adjust": lua("ratelimit_adjust")}
_PROCESS_WARNINGS = LogThrottle(interval_seconds=10.0)


class RateLimiter:
    """Sync and async checks against Redis (or only in memory when `redis_url` is empty). Never raises
    for Redis trouble; raises ValueError only for a malformed check (two limits on one key).

    After a Redis failure the next `redis_retry_after_seconds` go straight to memory, so a Redis
    that hangs costs one timeout per interval rather than one per request.
    """

    def __init__(
        self,
        *,
        redis_url: str,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        redis_retry_after_seconds: float = 1.0,
        fallback: MemoryRateLimiter | None = None,
        warnings: LogThrottle | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.fallback = fallback or MemoryRateLimiter()
        self._clients: RedisClients | None = None
        if redis_url:
            self._clients = RedisClients(url=redis_url, scripts=SCRIPTS, timeout_seconds=timeout_seconds)
        self._retry_after = redis_retry_after_seconds
        self._warnings = warnings or _PROCESS_WARNINGS
        self._redis_down_until = 0.0

    def check(self, *, limits: Sequence[Limit]) -> Decision:
        """Admit and charge every limit, or refuse and charge none."""
        check_unique_keys(limits)
        if not limits:
            return ALLOW_EVERYTHING
        if clients := self._reachable():
            try:
                reply = clients.sync().scripts["check"](keys=_keys(limits), args=_check_args(limits))
            except REDIS_FAILURES as error:
                self._redis_failed(error)
            else:
                return _decision(limits=limits, reply=reply)
        return self._fallback_check(limits)

    async def acheck(self, *, limits: Sequence[Limit]) -> Decision:
        """`check` for the event loop: awaits Redis, never blocks the loop."""
        check_unique_keys(limits)
        if not limits:
            return ALLOW_EVERYTHING
        if clients := self._reachable():
            try:
                script = clients.for_running_loop().scripts["check"]
                reply = await script(keys=_keys(limits), args=_check_args(limits))
            except REDIS_FAILURES as error:
                self._redis_failed(error)
            else:
                return _decision(limits=limits, reply=reply)
        return self._fallback_check(limits)

    def adjust(self, *, limit: Limit, delta: int) -> None:
        """Charge `delta` more units on `limit`'s bucket, or refund them if negative (limit.cost is ignored).

        For a tokens-per-minute limit checked with an estimate: `delta = actual - estimate`.
        """
        self.adjust_many(limits=[limit], delta=delta)

    def adjust_many(self, *, limits: Sequence[Limit], delta: int) -> None:
        """`adjust` on every limit at once, in one round trip."""
        if not limits:
            return
        if clients := self._reachable():
            try:
                clients.sync().scripts["adjust"](keys=[limit.key for limit in limits], args=_adjust_args(limits, delta))
            except REDIS_FAILURES as error:
                self._redis_failed(error)
            else:
                return
        for limit in limits:
            self.fallback.adjust(limit=limit, delta=delta)

    async def aadjust(self, *, limit: Limit, delta: int) -> None:
        if clients := self._reachable():
            try:
                script = clients.for_running_loop().scripts["adjust"]
                await script(keys=[limit.key], args=_adjust_args([limit], delta))
            except REDIS_FAILURES as error:
                self._redis_failed(error)
            else:
                return
        self.fallback.adjust(limit=limit, delta=delta)

    def reset(self, *, keys: Sequence[str]) -> None:
        """Forget the given buckets (they are full again), in Redis and in the fallback."""
        self.fallback.reset(keys=keys)
        if (clients := self._reachable()) and keys:
            try:
                clients.sync().client.delete(*keys)
            except REDIS_FAILURES as error:
                self._redis_failed(error)

    async def areset(self, *, keys: Sequence[str]) -> None:
        self.fallback.reset(keys=keys)
        if (clients := self._reachable()) and keys:
            try:
                await clients.for_running_loop().client.delete(*keys)
            except REDIS_FAILURES as error:
                self._redis_failed(error)

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's connections (call before a short-lived loop ends, e.g. in tests)."""
        if self._clients is not None:
            await self._clients.aclose()

    def _reachable(self) -> RedisClients | None:
        """The Redis clients, unless there is no Redis or it failed within the last retry interval."""
        if self._clients is None or time.monotonic() < self._redis_down_until:
            return None
        return self._clients

    def _redis_failed(self, error: BaseException) -> None:
        self._redis_down_until = time.monotonic() + self._retry_after
        METRICS.increment(REDIS_ERROR_METRIC)
        warn_throttled(
            logger=logger,
            throttle=self._warnings,
            message="Rate limiter cannot reach Redis; limiting in this process only",
            error=error,
        )

    def _fallback_check(self, limits: Sequence[Limit]) -> Decision:
        if self._clients is not None:  # with no Redis configured, memory is the design, not a fallback
            METRICS.increment(FAIL_OPEN_METRIC)
        return self.fallback.check(limits=limits)


def _keys(limits: Sequence[Limit]) -> list[str]:
    return [limit.key for limit in limits]


def _check_args(limits: Sequence[Limit]) -> list[str]:
    return [value for limit in limits for value in (str(limit.limit), repr(limit.period_us), str(limit.cost))]


def _adjust_args(limits: Sequence[Limit], delta: int) -> list[str]:
    return [value for limit in limits for value in (str(limit.limit), repr(limit.period_us), str(int(delta)))]


def _decision(*, limits: Sequence[Limit], reply: list[int]) -> Decision:
    allowed, index, remaining, reset_us, retry_us = (int(value) for value in reply)
    limit = limits[index - 1]
    return Decision(
        allowed=bool(allowed),
        limit_name=limit.name,
        limit=limit.limit,
        remaining=remaining,
        reset_after_seconds=reset_us / 1_000_000,
        retry_after_seconds=NEVER if retry_us < 0 else retry_us / 1_000_000,
    )


_limiters: PerRedisUrl[RateLimiter] = PerRedisUrl(lambda url: RateLimiter(redis_url=url))


def get_rate_limiter() -> RateLimiter:
    """The process's limiter for settings.REDIS_URL (in memory only when it is empty)."""
    return _limiters.get()
