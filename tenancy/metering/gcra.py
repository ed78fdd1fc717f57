"""GCRA (generic cell rate algorithm) arithmetic and the in-process limiter that uses it.

The Lua script `lua/ratelimit_check.lua` is the same arithmetic; keep the two in step. Times are
float microseconds since EPOCH (a recent epoch keeps doubles precise to ~0.02 µs). A key stores its
theoretical arrival time (TAT): the moment the bucket would be empty again. A request of cost c is
admitted when `max(TAT, now) + c * period / limit - period <= now + TOLERANCE_US`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
# Float sums of non-integral intervals drift by a fraction of a microsecond; without this slack a
# fresh bucket of limit 7 could refuse its 7th request.
TOLERANCE_US = 1.0
NEVER = math.inf


@dataclass(frozen=True)
class Limit:
    """One rate limit to check: `limit` units per `period_seconds` on `key`, charging `cost` units.

    A burst of `limit` units is allowed from a full bucket, then `limit / period` units per second.
    `name` appears in decisions (defaults to the key).
    """

    key: str
    limit: int
    period_seconds: float
    cost: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_seconds <= 0 or self.cost < 0:
            raise ValueError(f"invalid rate limit {self!r}: need limit >= 1, period > 0, cost >= 0")
        if not self.name:
            object.__setattr__(self, "name", self.key)

    @property
    def period_us(self) -> float:
        return self.period_seconds * 1_000_000


@dataclass(frozen=True)
class Decision:
    """The outcome of a check, describing one limit: the refusing one, or else the tightest.

    Refused: `limit_name` is the limit that must wait longest and `retry_after_seconds` is that
    wait, after which every limit in the check would admit the request again (if nothing else is
    spent meanwhile). A cost above the limit itself can never be admitted: `retry_after_seconds` is
    `math.inf` (`retryable` is False); answer that with a 4xx that is not 429.
    Allowed: `limit_name` is the limit with the smallest remaining share; `retry_after_seconds` is 0.
    `remaining` counts cost-1 requests admissible right now; `reset_after_seconds` is the time until
    that limit's bucket is full again. `limit_name` is None only for a check with no limits.
    """

    allowed: bool
    limit_name: str | None
    limit: int
    remaining: int
    reset_after_seconds: float
    retry_after_seconds: float

    @property
    def retryable(self) -> bool:
        return self.allowed or math.isfinite(self.retry_after_seconds)


ALLOW_EVERYTHING = Decision(
    allowed=True, limit_name=None, limit=0, remaining=0, reset_after_seconds=0.0, retry_after_seconds=0.0
)


@dataclass(frozen=True)
class Outcome:
    """One limit's part of a check; `new_tat` is written only if every limit allowed."""

    allowed: bool
    new_tat: float
    remaining: int
    reset_after_us: float
    retry_after_us: float


def evaluate(*, limit: Limit, stored_tat: float | None, now: float) -> Outcome:
    interval = limit.period_us / limit.limit
    tat = now if stored_tat is None else max(stored_tat, now)
    new_tat = tat + limit.cost * interval
    if limit.cost > limit.limit:
        return Outcome(False, tat, _remaining(limit, tat, now), tat - now, NEVER)
    wait = new_tat - limit.period_us - now
    if wait > TOLERANCE_US:
        return Outcome(False, tat, _remaining(limit, tat, now), tat - now, wait)
    return Outcome(True, new_tat, _remaining(limit, new_tat, now), new_tat - now, 0.0)


def _remaining(limit: Limit, tat: float, now: float) -> int:
    interval = limit.period_us / limit.limit
    units = math.floor((limit.period_us + TOLERANCE_US - (tat - now)) / interval)
    return max(0, min(limit.limit, units))


def describe(*, limits: Sequence[Limit], outcomes: Sequence[Outcome]) -> Decision:
    """Pick the limit a decision reports: the longest wait if refused, else the smallest share left."""
    refused = [i for i, outcome in enumerate(outcomes) if not outcome.allowed]
    if refused:
        index = max(refused, key=lambda i: outcomes[i].retry_after_us)
    else:
        index = min(
            range(len(limits)),
            key=lambda i: (outcomes[i].remaining / limits[i].limit, -outcomes[i].reset_after_us),
        )
    outcome, limit = outcomes[index], limits[index]
    return Decision(
        allowed=not refused,
        limit_name=limit.name,
        limit=limit.limit,
        remaining=outcome.remaining,
        reset_after_seconds=max(0.0, outcome.reset_after_us) / 1_000_000,
        retry_after_seconds=outcome.retry_after_us / 1_000_000,
    )


def check_unique_keys(limits: Sequence[Limit]) -> None:
    keys = [limit.key for limit in limits]
    if len(set(keys)) != len(keys):
        # Two limits on one key would each see the old TAT and the second write would win.
        raise ValueError(f"each limit in a check needs its own key, got {keys}")


def now_us(clock: Callable[[], float]) -> float:
    return (clock() - EPOCH) * 1_000_000


class MemoryRateLimiter:
    """GCRA in this process only: the embedded run, and the fallback while Redis is unreachable.

    Thread-safe; never blocks for long (a dict under a lock), so it is safe on the event loop.
    Keys whose TAT has passed are forgotten (a full bucket needs no state).
    """

    PRUNE_EVERY = 1024

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}
        self._calls = 0

    def check(self, *, limits: Sequence[Limit]) -> Decision:
        check_unique_keys(limits)
        if not limits:
            return ALLOW_EVERYTHING
        with self._lock:
            now = now_us(self._clock)
            outcomes = [evaluate(limit=limit, stored_tat=self._tats.get(limit.key), now=now) for limit in limits]
            if all(outcome.allowed for outcome in outcomes):
                for limit, outcome in zip(limits, outcomes, strict=True):
                    self._store(limit.key, outcome.new_tat, now)
            self._maybe_prune(now)
        return describe(limits=limits, outcomes=outcomes)

    def adjust(self, *, limit: Limit, delta: int) -> None:
        """Charge `delta` more units (or refund, if negative) on `limit`'s key; a refund stops at full."""
        with self._lock:
            now = now_us(self._clock)
            tat = max(self._tats.get(limit.key, now), now)
            self._store(limit.key, tat + delta * limit.period_us / limit.limit, now)

    def reset(self, *, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._tats.pop(key, None)

    def _store(self, key: str, tat: float, now: float) -> None:
        if tat > now:
            self._tats[key] = tat
        else:
            self._tats.pop(key, None)

    def _maybe_prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % self.PRUNE_EVERY == 0:
            self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
