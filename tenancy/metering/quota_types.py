"""What the quota stores take and give: limits, reservations, usage rows and their two errors."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from rest_framework import status

from chatpresets.errors import DomainError

# Lua numbers are doubles: integers above 2**53 would silently lose units.
MAX_AMOUNT = 2**53 - 1


def to_timestamp(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError(f"a naive datetime is ambiguous as a period end: {moment!r}")
        return moment.timestamp()
    return float(moment)


@dataclass(frozen=True)
class LedgerScope:
    """Which rows of the usage ledger a counter adds up, so a counter Redis lost can be rebuilt.

    The store never reads the ledger (it lives in a higher app); it hands the limits whose counters
    are missing to the caller's `rebuild`, which sums these rows from `period_start` to the limit's end.
    """

    unit: str  # "tokens", or "cost" in micro-units
    period_start: datetime
    org_id: Any = None
    user_id: Any = None
    team_id: Any = None
    api_key_id: Any = None
    preset_id: Any = None


@dataclass(frozen=True)
class QuotaLimit:
    """A hard budget for one period. `key` names the period (`quota:org:1:tokens:day:2026-12-01`), so
    the next period is a new key that starts at zero; the key expires some time after `period_end`.
    """

    name: str
    key: str
    budget: int
    period_end: float | datetime
    ledger: LedgerScope | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.budget <= MAX_AMOUNT:
            raise ValueError(f"budget must be between 0 and {MAX_AMOUNT}, not {self.budget}")
        to_timestamp(self.period_end)

    @property
    def period_end_timestamp(self) -> float:
        return to_timestamp(self.period_end)

    @property
    def reset_at(self) -> datetime:
        return datetime.fromtimestamp(self.period_end_timestamp, tz=UTC)

    def expire_at(self, *, margin_seconds: int) -> int:
        return math.ceil(self.period_end_timestamp) + margin_seconds


@dataclass(frozen=True)
class Hold:
    """One reserve of several made together: `amount` on every limit of `limits`, under `reservation_id`."""

    limits: Sequence[QuotaLimit]
    amount: int
    reservation_id: str


@dataclass(frozen=True)
class Reservation:
    """Units held on every limit of a reserve until settled, released, or expired at `expires_at` (unix s)."""

    reservation_id: str
    amount: int
    expires_at: float


class QuotaUsage(NamedTuple):
    name: str
    used: int
    reserved: int
    budget: int
    remaining: int  # never below 0, even when a settle went over the budget
    reset_at: datetime


class QuotaExceeded(DomainError):
    """A reserve would take a limit over its budget; names the refusing limit with the least remaining."""

    code = "quota_exceeded"
    limit_kind = "quota"  # chatpresets_limit_refusals_total{kind}
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, *, limit: QuotaLimit, requested: int, used: int, reserved: int) -> None:
        self.limit = limit
        self.requested = requested
        self.used = used
        self.reserved = reserved
        self.remaining = max(0, limit.budget - used - reserved)
        self.reset_at = limit.reset_at
        super().__init__(
            f"The {limit.name} quota has {self.remaining} of {limit.budget} left; {requested} were needed.",
            details={
                "limit": limit.name,
                "budget": limit.budget,
                "remaining": self.remaining,
                "requested": requested,
                "reset_at": self.reset_at.isoformat(),
            },
        )

    @property
    def retry_after_seconds(self) -> float:
        """Until the period ends (a held reservation may free units sooner)."""
        return max(0.0, self.limit.period_end_timestamp - time.time())


# Given the limits whose counters are missing, what each has really used this period (same order).
Rebuild = Callable[[Sequence[QuotaLimit]], Sequence[int]]


class QuotaStoreUnavailable(DomainError):
    """The quota store did not answer in time; quotas fail closed, so the call must not go ahead."""

    code = "quota_store_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "Quotas cannot be checked right now; try again shortly."

    def __init__(self, *, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(details={"retry_after": retry_after_seconds})


def check_reserve(*, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, ttl_seconds: int) -> None:
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be between 0 and {MAX_AMOUNT}, not {amount}")
    if ttl_seconds <= 0 or not reservation_id:
        raise ValueError("a reservation needs an id and a positive ttl")
    keys = [limit.key for limit in limits]
    if len(set(keys)) != len(keys):
        raise ValueError(f"each limit of a reserve needs its own key, got {keys}")


def check_actual(actual: int) -> None:
    if not 0 <= actual <= MAX_AMOUNT:
        raise ValueError(f"actual must be between 0 and {MAX_AMOUNT}, not {actual}")


def usage_row(*, limit: QuotaLimit, used: int, reserved: int) -> QuotaUsage:
    remaining = max(0, limit.budget - used - reserved)
    return QuotaUsage(limit.name, used, reserved, limit.budget, remaining, limit.reset_at)


class QuotaStore(Protocol):
    """The interface both stores offer; amounts are integers (tokens, or micro-units of currency).

    reserve: for every limit `used + reserved + amount <= budget`, or raise QuotaExceeded and hold
    nothing. With `rebuild`, a counter that does not exist (a new period, or Redis lost it) is first
    seeded with what `rebuild` says was used, so nothing is admitted against a wiped counter.
    settle: charge `actual` (smaller or larger than reserved) and free the hold; release:
    free it unused; both return False when there was nothing to do (already done, or unknown).
    release_expired: free holds whose ttl passed; returns how many.
    reserve_each: `reserve` for each hold, in one round trip while every counter exists; each hold's
    outcome is its Reservation or its QuotaExceeded, and one refused leaves the others held.
    """

    def reserve(
        self,
        *,
        limits: Sequence[QuotaLimit],
        amount: int,
        reservation_id: str,
        ttl_seconds: int,
        rebuild: Rebuild | None = None,
    ) -> Reservation: ...
    def reserve_each(
        self, *, holds: Sequence[Hold], ttl_seconds: int, rebuild: Rebuild | None = None
    ) -> list[Reservation | QuotaExceeded]: ...
    async def areserve(
        self, *, limits: Sequence[QuotaLimit], amount: int, reservation_id: str, ttl_seconds: int
    ) -> Reservation: ...
    def settle(self, *, reservation_id: str, actual: int) -> bool: ...
    async def asettle(self, *, reservation_id: str, actual: int) -> bool: ...
    def release(self, *, reservation_id: str) -> bool: ...
    async def arelease(self, *, reservation_id: str) -> bool: ...
    def release_expired(self, *, now: float | datetime | None = None) -> int: ...
    async def arelease_expired(self, *, now: float | datetime | None = None) -> int: ...
    def usage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]: ...
    async def ausage(self, *, limits: Sequence[QuotaLimit]) -> list[QuotaUsage]: ...


def reserved_alone(
    store: QuotaStore, hold: Hold, *, ttl_seconds: int, rebuild: Rebuild | None
) -> Reservation | QuotaExceeded:
    """One hold's `reserve` on its own, with its refusal as the outcome `reserve_each` gives."""
    try:
        return store.reserve(
            limits=hold.limits,
            amount=hold.amount,
            reservation_id=hold.reservation_id,
            ttl_seconds=ttl_seconds,
            rebuild=rebuild,
        )
    except QuotaExceeded as refusal:
        return refusal
