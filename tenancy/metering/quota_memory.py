"""The quota store in this process only, for the embedded run (empty REDIS_URL); never a fallback.

Same semantics as the Redis store (tests run both through one suite): counters vanish at their
expire-at, an expired reservation is remembered for a while so a late settle is still charged.
Thread-safe with one lock; every operation is a few dict updates, so it is safe on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tenancy.metering.quota_types import (
    Hold,
    QuotaExceeded,
    QuotaLimit,
    QuotaUsage,
    Rebuild,
    Reservation,
    check_actual,
    check_reserve,
    reserved_alone,
    to_timestamp,
    usage_row,
)


@dataclass
class _Counter:
    used: int = 0
    reserved: int = 0
    expire_at: float = float("inf")


@dataclass
class _Record:
    amount: int
    expires_at: float
    keys: list[str]
    expiries: list[int]
    expired: bool = False
    forget_at: float = field(default=float("inf"))


class MemoryQuotaStore:
    def __init__(
        self,
        *,
        expiry_margin_seconds: int = 86_400,
        expired_record_seconds: int = 3_600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._margin = expiry_margin_seconds
        self._expired_record_seconds = expired_record_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._records: dict[str, _Record] = {}

    def reserve(
        self,
        *,
        limits: Sequence[QuotaLimit],
        amount: int,
        reservation_id: str,
        ttl_seconds: int,
        rebuild: Rebuild | None = None,
    ) -> Reservation:
        check_reserve(limits=limits, amount=amount, reservation_id=reservation_id, ttl_seconds=ttl_seconds)
        if rebuild is not None:
            self._seed_missing(limits, rebuild)
        with self._lock:
            now = self._clock()
            record = self._record(reservation_id, now)
            if record is not None and not record.expired:
                return Reservation(reservation_id=reservation_id, amount=record.amount, expires_at=record.expires_at)
            if record is not None:
                raise ValueError(f"reservation id {reservation_id!r} belongs to an expired reservation; use a new id")
            self._refuse_if_over(limits=limits, amount=amount, now=now)
            expiries = [limit.expire_at(margin_seconds=self._margin) for limit in limits]
            for limit, expire_at in zip(limits, expiries, strict=True):
                self._counter(limit.key, now).reserved += amount
                self._expire(limit.key, expire_at, now)
            expires_at = round(now + ttl_seconds, 6)
            keys = [limit.key for limit in limits]
            self._records[reservation_id] = _Record(amount=amount, expires_at=expires_at, keys=keys, expiries=expiries)
            return Reservation(reservation_id=reservation_id, amount=amount, expires_at=expires_at)

    def reserve_each(
        self, *, holds: Sequence[Hold], ttl_seconds: int, rebuild: Rebuild | None = None
    ) -> list[Reservation | QuotaExceeded]:
        return [reserved_alone(self, hold, ttl_seconds=ttl_seconds, rebuild=rebuild) for hold in holds]

    def _seed_missing(self, limits: Sequence[QuotaLimit], rebuild: Rebuild) -> None:
        """A restart loses every counter while the ledger keeps the usage: seed missing counters from it.

        `rebuild` reads the database, so it runs outside the lock; a counter made meanwhile is kept.
        """
        with self._lock:
            missing = [limit for limit in limits if self._live(limit.key, self._clock()) is None]
        if not missing:
            return
        used = rebuild(missing)
        with self._lock:
            now = self._clock()
            for limit, amount in zip(missing, used, strict=True):
                check_actual(amount)
                if self._live(limit.key, now) is None:
                    self._counter(limit.key, now).used = amount
                    self._expire(limit.key, limit.expire_at(margin_seconds=self._margin), now)

    def _refuse_if_over(self, *, limits: Sequence[QuotaLimit], amount: int, now: float) -> None:
        worst: tuple[int, QuotaLimit, _Counter] | None = None
        for limit in limits:
            counter = self._live(limit.key, now) or _Counter()
            left = limit.budget - counter.used - counter.reserved
            if amount > left and (worst is None or left < worst[0]):
                worst = (left, limit, counter)
        if worst is not None:
            _left, limit, counter = worst
            raise QuotaExceeded(limit=limit, requested=amount, used=counter.used, reserved=counter.reserved)

    def settle(self, *, reservation_id: str, actual: int) -> bool:
        check_actual(actual)
        return self._finish(reservation_id, actual=actual)

    def release(self, *, reservation_id: str) -> bool:
        return self._finish(reservation_id, actual=None)

    def _finish(self, reservation_id: str, *, actual: int | None) -> bool:
        with self._lock:
            now = self._clock()
            record = self._record(reservation_id, now)
            if record is None or (record.expired and actual is None):
                return False
            for key, expire_at in zip(record.keys, record.expiries, strict=True):
                counter = self._counter(key, now)
                if not record.expired:
                    counter.reserved = max(0, counter.reserved - record.amount)
                if actual is not None:
                    counter.used += actual
                self._expire(key, expire_at, now)
            del self._records[reservation_id]
            return True

    def release_expired(self, *, now: float | datetime | None = None) -> int:
        with self._lock:
            moment = self._clock() if now is None else to_timestamp(now)
            clock_now = self._clock()
            due = [rid for rid, rec in self._records.items() if not rec.expired and rec.expires_at <= moment]
            for reservation_id in due:
                record = self._records[reservation_id]
                for key, expire_at in zip(record.keys, record.expiries, strict=True):
                    counter = self._counter(key, clock_now)
                    counter.reserved = max(0, counter.reserved - record.amount)
                    self._expire(key, expire_at, clock_now)
                record.expired = True
                record.forget_at = clock_now + self._expired_record_seconds
            self._forget_stale(clock_now)
            return len(due)

    def usage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]:
        with self._lock:
            now = self._clock()
            rows = []
            for limit in limits:
                counter = self._live(limit.key, now) or _Counter()
                rows.append(usage_row(limit=limit, used=counter.used, reserved=counter.reserved))
            return rows

    # The async API: every operation is short and never waits, so it runs inline.
    async def areserve(
        self, *, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation:
        return self.reserve(limits=limits, amount=amount, reservation_id=reservation_id, ttl_seconds=ttl_seconds)

    async def asettle(self, *, reservation_id: str, actual: int) -> bool:
        return self.settle(reservation_id=reservation_id, actual=actual)

    async def arelease(self, *, reservation_id: str) -> bool:
        return self.release(reservation_id=reservation_id)

    async def arelease_expired(self, *, now: float | datetime | None = None) -> int:
        return self.release_expired(now=now)

    async def ausage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]:
        return self.usage(limits=limits)

    def close(self) -> None:
        """Nothing to close; here so both stores offer the same calls."""

    async def aclose(self) -> None:
        """Nothing to close; here so both stores offer the same calls."""

    def _live(self, key: str, now: float) -> _Counter | None:
        counter = self._counters.get(key)
        if counter is not None and counter.expire_at <= now:
            del self._counters[key]
            return None
        return counter

    def _counter(self, key: str, now: float) -> _Counter:
        counter = self._live(key, now)
        if counter is None:
            counter = self._counters[key] = _Counter()
        return counter

    def _expire(self, key: str, expire_at: float, now: float) -> None:
        # Like EXPIREAT: a moment already past deletes the counter at once.
        if expire_at <= now:
            self._counters.pop(key, None)
        else:
            self._counters[key].expire_at = expire_at

    def _record(self, reservation_id: str, now: float) -> _Record | None:
        record = self._records.get(reservation_id)
        if record is not None and record.forget_at <= now:
            del self._records[reservation_id]
            return None
        return record

    def _forget_stale(self, now: float) -> None:
        self._records = {rid: rec for rid, rec in self._records.items() if rec.forget_at > now}
        self._counters = {key: counter for key, counter in self._counters.items() if counter.expire_at > now}
