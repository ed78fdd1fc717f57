"""Hard budgets per period on Redis: reserve before a model call, settle with the real usage after.

Every operation is one Lua script, so concurrent reserves can never admit more than a budget
(nothing is checked on the client and then incremented). Quotas fail closed: when Redis does not
answer within the short timeout, every call raises QuotaStoreUnavailable and the caller answers 503.
Only an empty REDIS_URL (the embedded single-process run) uses the in-memory store instead.

Scripts that settle or expire read counter keys from the reservation record, so the store needs a
single Redis node (or a cluster with every key in one slot).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import NoScriptError

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
from tenancy.metering.quota_memory import MemoryQuotaStore
from tenancy.metering.quota_types import (
    Hold,
    QuotaExceeded,
    QuotaLimit,
    QuotaStore,
    QuotaStoreUnavailable,
    QuotaUsage,
    Rebuild,
    Reservation,
    check_actual,
    check_reserve,
    reserved_alone,
    to_timestamp,
    usage_row,
)

__all__ = [
    "UNAVAILABLE_METRIC",
    "MemoryQuotaStore",
    "QuotaExceeded",
    "QuotaLimit",
    "QuotaStore",
    "QuotaStoreUnavailable",
    "QuotaUsage",
    "RedisQuotaStore",
    "Reservation",
    "get_quota_store",
]

logger = logging.getLogger(__name__)

UNAVAILABLE_METRIC = "quota_store_unavailable_total"
SCRIPTS = {name: lua(f"quota_{name}") for name in ("reserve", "finish", "expire", "usage", "seed")}
_PROCESS_WARNINGS = LogThrottle(interval_seconds=10.0)
# Statuses of quota_reserve.lua; 1 and 2 both return the reservation.
REFUSED, ID_OF_EXPIRED, COUNTERS_MISSING = 0, 3, 4


class RedisQuotaStore:
    """The QuotaStore on Redis. Raises QuotaStoreUnavailable (never a redis exception) when Redis fails.

    Counters are hashes `{used, reserved}` at each limit's key, expiring `expiry_margin_seconds`
    after the period ends. Pending reservations are hashes under `{prefix}reservation:{id}`, indexed
    by expiry in `{prefix}reservations:pending`; an expired one is kept `expired_record_seconds` so a
    late settle still charges what the call really used.
    """

    def __init__(
        self,
        *,
        redis_url: str,
        prefix: str = "quota:",
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        expiry_margin_seconds: int = 86_400,
        expired_record_seconds: int = 3_600,
        unavailable_retry_after_seconds: int = 5,
        warnings: LogThrottle | None = None,
    ) -> None:
        self._clients = RedisClients(url=redis_url, scripts=SCRIPTS, timeout_seconds=timeout_seconds)
        self._prefix = prefix
        self._pending = f"{prefix}reservations:pending"
        self._margin = expiry_margin_seconds
        self._expired_record_seconds = expired_record_seconds
        self._retry_after = unavailable_retry_after_seconds
        self._warnings = warnings or _PROCESS_WARNINGS

    def reserve(
        self,
        *,
        limits: Sequence[QuotaLimit],
        amount: int,
        reservation_id: str,
        ttl_seconds: int,
        rebuild: Rebuild | None = None,
    ) -> Reservation:
        """One round trip while every counter exists; with `rebuild`, missing ones are seeded first."""
        check_reserve(limits=limits, amount=amount, reservation_id=reservation_id, ttl_seconds=ttl_seconds)
        keys, args = self._reserve_call(limits, amount, reservation_id, ttl_seconds, rebuild is not None)
        reply = self._run("reserve", keys, args)
        if reply[0] == COUNTERS_MISSING and rebuild is not None:
            missing = [limits[int(index) - 1] for index in reply[1]]
            self._seed(missing, rebuild(missing))
            # Seeded with SET NX semantics, so every counter exists now; count on them as they are.
            keys, args = self._reserve_call(limits, amount, reservation_id, ttl_seconds, False)
            reply = self._run("reserve", keys, args)
        return _reservation(limits=limits, amount=amount, reservation_id=reservation_id, reply=reply)

    def reserve_each(
        self, *, holds: Sequence[Hold], ttl_seconds: int, rebuild: Rebuild | None = None
    ) -> list[Reservation | QuotaExceeded]:
        """Every hold's reserve in one pipelined round trip; a hold whose counters are missing is then
        seeded and reserved alone (`reserve`), as are all of them if Redis lost the script."""
        for hold in holds:
            check_reserve(
                limits=hold.limits, amount=hold.amount, reservation_id=hold.reservation_id, ttl_seconds=ttl_seconds
            )
        calls = [
            self._reserve_call(hold.limits, hold.amount, hold.reservation_id, ttl_seconds, rebuild is not None)
            for hold in holds
        ]
        replies = self._run_together("reserve", calls)
        outcomes: list[Reservation | QuotaExceeded] = []
        for hold, reply in zip(holds, replies, strict=True):
            if reply is None or (reply[0] == COUNTERS_MISSING and rebuild is not None):
                outcomes.append(reserved_alone(self, hold, ttl_seconds=ttl_seconds, rebuild=rebuild))
                continue
            try:
                reservation = _reservation(
                    limits=hold.limits, amount=hold.amount, reservation_id=hold.reservation_id, reply=reply
                )
                outcomes.append(reservation)
            except QuotaExceeded as refusal:
                outcomes.append(refusal)
        return outcomes

    async def areserve(
        self, *, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation:
        """Missing counters read as zero here: rebuilding them reads the database (use `reserve`)."""
        check_reserve(limits=limits, amount=amount, reservation_id=reservation_id, ttl_seconds=ttl_seconds)
        keys, args = self._reserve_call(limits, amount, reservation_id, ttl_seconds, False)
        reply = await self._arun("reserve", keys, args)
        return _reservation(limits=limits, amount=amount, reservation_id=reservation_id, reply=reply)

    def settle(self, *, reservation_id: str, actual: int) -> bool:
        check_actual(actual)
        return bool(self._run("finish", self._record_keys(reservation_id), [reservation_id, "settle", actual]))

    async def asettle(self, *, reservation_id: str, actual: int) -> bool:
        check_actual(actual)
        return bool(await self._arun("finish", self._record_keys(reservation_id), [reservation_id, "settle", actual]))

    def release(self, *, reservation_id: str) -> bool:
        return bool(self._run("finish", self._record_keys(reservation_id), [reservation_id, "release", 0]))

    async def arelease(self, *, reservation_id: str) -> bool:
        return bool(await self._arun("finish", self._record_keys(reservation_id), [reservation_id, "release", 0]))

    def release_expired(self, *, now: float | datetime | None = None, batch: int = 500) -> int:
        """Release every reservation whose ttl passed by `now` (default: the Redis server's clock)."""
        total = 0
        while (released := int(self._run("expire", [self._pending], self._expire_args(now, batch)))) > 0:
            total += released
            if released < batch:
                break
        return total

    async def arelease_expired(self, *, now: float | datetime | None = None, batch: int = 500) -> int:
        total = 0
        while (released := int(await self._arun("expire", [self._pending], self._expire_args(now, batch)))) > 0:
            total += released
            if released < batch:
                break
        return total

    def usage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]:
        reply = self._run("usage", [limit.key for limit in limits], []) if limits else []
        return _usage(limits=limits, reply=reply)

    async def ausage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]:
        reply = await self._arun("usage", [limit.key for limit in limits], []) if limits else []
        return _usage(limits=limits, reply=reply)

    def close(self) -> None:
        self._clients.close()

    async def aclose(self) -> None:
        """Close the running loop's connections (call before a short-lived loop ends, e.g. in tests)."""
        await self._clients.aclose()

    def _record_keys(self, reservation_id: str) -> list[str]:
        return [f"{self._prefix}reservation:{reservation_id}", self._pending]

    def _reserve_call(
        self, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, ttl_seconds: int, rebuilding: bool
    ) -> tuple[list[str], list[Any]]:
        keys = [limit.key for limit in limits] + self._record_keys(reservation_id)
        args: list[Any] = [reservation_id, amount, ttl_seconds, "1" if rebuilding else "0"]
        for limit in limits:
            args += [limit.budget, limit.expire_at(margin_seconds=self._margin)]
        return keys, args

    def _seed(self, limits: Sequence[QuotaLimit], used: Sequence[int]) -> None:
        args: list[Any] = []
        for limit, amount in zip(limits, used, strict=True):
            check_actual(amount)
            args += [amount, limit.expire_at(margin_seconds=self._margin)]
        seeded = int(self._run("seed", [limit.key for limit in limits], args))
        logger.info("quota counters seeded from the usage ledger: %s of %s", seeded, [limit.key for limit in limits])

    def _expire_args(self, now: float | datetime | None, batch: int) -> list[Any]:
        moment = "" if now is None else repr(to_timestamp(now))
        return [moment, batch, f"{self._prefix}reservation:", self._expired_record_seconds]

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return self._clients.sync().scripts[script](keys=keys, args=args)
        except REDIS_FAILURES as error:
            raise self._unavailable(error) from error

    def _run_together(self, script: str, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """`script` once per (keys, args), pipelined: one round trip. A reply is None where Redis no
        longer knew the script (a restart or SCRIPT FLUSH): `_run` loads it again."""
        try:
            binding = self._clients.sync()
            pipeline = binding.client.pipeline(transaction=False)
            sha = binding.scripts[script].sha
            for keys, args in calls:
                pipeline.evalsha(sha, len(keys), *keys, *args)
            replies = pipeline.execute(raise_on_error=False)
            for reply in replies:
                if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
                    raise reply
        except REDIS_FAILURES as error:
            raise self._unavailable(error) from error
        return [None if isinstance(reply, NoScriptError) else reply for reply in replies]

    async def _arun(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._clients.for_running_loop().scripts[script](keys=keys, args=args)
        except REDIS_FAILURES as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: BaseException) -> QuotaStoreUnavailable:
        METRICS.increment(UNAVAILABLE_METRIC)
        warn_throttled(
            logger=logger,
            throttle=self._warnings,
            message="Quota store cannot reach Redis; refusing metered calls",
            error=error,
        )
        return QuotaStoreUnavailable(retry_after_seconds=self._retry_after)


def _reservation(*, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, reply: list[Any]) -> Reservation:
    status, index, used, reserved, expires_at, held = reply
    if status == REFUSED:
        raise QuotaExceeded(limit=limits[int(index) - 1], requested=amount, used=int(used), reserved=int(reserved))
    if status == ID_OF_EXPIRED:
        raise ValueError(f"reservation id {reservation_id!r} belongs to an expired reservation; use a new id")
    return Reservation(reservation_id=reservation_id, amount=int(held), expires_at=float(expires_at))


def _usage(*, limits: Sequence[QuotaLimit], reply: list[Any]) -> list[QuotaUsage]:
    return [
        usage_row(limit=limit, used=int(reply[2 * i]), reserved=int(reply[2 * i + 1])) for i, limit in enumerate(limits)
    ]


_stores: PerRedisUrl[QuotaStore] = PerRedisUrl(
    lambda url: RedisQuotaStore(redis_url=url) if url else MemoryQuotaStore()
)


def get_quota_store() -> QuotaStore:
    """The process's store for settings.REDIS_URL; in memory (same semantics) only when it is empty."""
    return _stores.get()
