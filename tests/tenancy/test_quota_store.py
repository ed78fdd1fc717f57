"""The reserve/settle quota store against the suite's real Redis, and its in-memory twin."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from tenancy.metering import quota
from tenancy.metering.clients import METRICS, LogThrottle
from tenancy.metering.quota import (
    UNAVAILABLE_METRIC,
    MemoryQuotaStore,
    QuotaExceeded,
    QuotaLimit,
    QuotaStore,
    QuotaStoreUnavailable,
    RedisQuotaStore,
    get_quota_store,
)
from tenancy.metering.quota_types import Hold, Reservation
from tests.clock import Clock
from tests.tenancy.limits_harness import in_processes, in_threads

CLOSED_PORT_URL = "redis://127.0.0.1:1/13"
HOUR = 3600
# The production default (a quarter second) is about outages; these tests are about atomicity, and a
# burst of fifty simultaneous connects on a loaded CI machine can take longer than that to be scheduled.
LOADED_MACHINE_TIMEOUT_SECONDS = 5.0


def new_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, prefix: str) -> Iterator[QuotaStore]:
    if request.param == "redis":
        store: QuotaStore = RedisQuotaStore(
            redis_url=django_settings.REDIS_URL, prefix=prefix, timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS
        )
    else:
        store = MemoryQuotaStore()
    yield store
    store.close()


@pytest.fixture
async def async_store(store: QuotaStore) -> AsyncIterator[QuotaStore]:
    yield store
    await store.aclose()


@pytest.fixture
def limit(prefix: str) -> Callable[..., QuotaLimit]:
    def make(name: str, budget: int, *, period: str = "p1", period_end: float | datetime | None = None) -> QuotaLimit:
        end = time.time() + HOUR if period_end is None else period_end
        return QuotaLimit(name=name, key=f"{prefix}{name}:{period}", budget=budget, period_end=end)

    return make


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/13"
    server.close()


def used_and_reserved(store: QuotaStore, limits: list[QuotaLimit]) -> list[tuple[int, int]]:
    return [(row.used, row.reserved) for row in store.usage(limits=limits)]


def test_a_reserve_within_budget_holds_the_amount_on_every_limit(store: QuotaStore, limit: Callable) -> None:
    limits = [limit("day", 1000), limit("month", 5000)]

    reservation = store.reserve(limits=limits, amount=300, reservation_id="r1", ttl_seconds=60)

    assert reservation.reservation_id == "r1"
    assert reservation.amount == 300
    assert reservation.expires_at == pytest.approx(time.time() + 60, abs=2)
    assert used_and_reserved(store, limits) == [(0, 300), (0, 300)]


def test_a_refusal_names_the_strictest_limit_and_holds_nothing(store: QuotaStore, limit: Callable) -> None:
    day, month, org = limit("day", 100), limit("month", 1000), limit("org", 60)
    store.reserve(limits=[month], amount=950, reservation_id="earlier", ttl_seconds=60)
    store.settle(reservation_id="earlier", actual=950)

    with pytest.raises(QuotaExceeded) as refused:
        store.reserve(limits=[day, month, org], amount=70, reservation_id="r1", ttl_seconds=60)

    # org (60 left) and month (50 left) both refuse; month has the least remaining.
    assert refused.value.limit == month
    assert (refused.value.remaining, refused.value.used, refused.value.requested) == (50, 950, 70)
    assert used_and_reserved(store, [day, month, org]) == [(0, 0), (950, 0), (0, 0)]
    assert store.reserve(limits=[day, month, org], amount=50, reservation_id="r2", ttl_seconds=60).amount == 50


def test_quota_exceeded_carries_what_the_error_response_needs(store: QuotaStore, limit: Callable) -> None:
    period_end = datetime.now(UTC) + timedelta(hours=2)
    day = limit("day", 10, period_end=period_end)

    with pytest.raises(QuotaExceeded) as refused:
        store.reserve(limits=[day], amount=11, reservation_id="r1", ttl_seconds=60)

    error = refused.value
    assert error.status_code == 429
    assert error.code == "quota_exceeded"
    assert error.details == {
        "limit": "day",
        "budget": 10,
        "remaining": 10,
        "requested": 11,
        "reset_at": period_end.isoformat(),
    }
    assert error.retry_after_seconds == pytest.approx(7200, abs=5)


def test_settling_for_less_than_reserved_frees_the_rest(store: QuotaStore, limit: Callable) -> None:
    limits = [limit("day", 1000), limit("month", 5000)]
    store.reserve(limits=limits, amount=300, reservation_id="r1", ttl_seconds=60)

    assert store.settle(reservation_id="r1", actual=120) is True

    assert used_and_reserved(store, limits) == [(120, 0), (120, 0)]
    assert [row.remaining for row in store.usage(limits=limits)] == [880, 4880]


def test_settling_for_more_than_reserved_charges_the_real_usage(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)
    store.reserve(limits=[day], amount=200, reservation_id="r2", ttl_seconds=60)

    store.settle(reservation_id="r1", actual=900)

    [row] = store.usage(limits=[day])
    assert (row.used, row.reserved, row.remaining) == (900, 200, 0)  # over budget: remaining stops at 0
    with pytest.raises(QuotaExceeded):
        store.reserve(limits=[day], amount=1, reservation_id="r3", ttl_seconds=60)


def test_settling_twice_changes_nothing_the_second_time(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)
    store.settle(reservation_id="r1", actual=100)

    assert store.settle(reservation_id="r1", actual=100) is False
    assert store.release(reservation_id="r1") is False
    assert used_and_reserved(store, [day]) == [(100, 0)]


def test_release_frees_the_hold_without_charging(store: QuotaStore, limit: Callable) -> None:
    limits = [limit("day", 1000), limit("month", 5000)]
    store.reserve(limits=limits, amount=300, reservation_id="r1", ttl_seconds=60)
    store.reserve(limits=limits, amount=50, reservation_id="r2", ttl_seconds=60)

    assert store.release(reservation_id="r1") is True

    assert used_and_reserved(store, limits) == [(0, 50), (0, 50)]
    assert store.release(reservation_id="r1") is False
    assert store.settle(reservation_id="r1", actual=10) is False
    assert store.release(reservation_id="never-reserved") is False


def test_release_expired_frees_only_holds_past_their_ttl(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="crashed", ttl_seconds=1)
    store.reserve(limits=[day], amount=50, reservation_id="running", ttl_seconds=600)

    assert store.release_expired(now=time.time() + 5) == 1

    assert used_and_reserved(store, [day]) == [(0, 50)]
    assert store.release_expired(now=time.time() + 5) == 0
    assert store.settle(reservation_id="running", actual=40) is True
    assert used_and_reserved(store, [day]) == [(40, 0)]


def test_a_hold_of_nothing_settles_releases_and_expires_like_any_other(store: QuotaStore, limit: Callable) -> None:
    # A free model's cost hold is 0 micro-units; Lua's -0 is "-0", which HINCRBY refuses as not an integer.
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=0, reservation_id="free", ttl_seconds=60)
    store.reserve(limits=[day], amount=0, reservation_id="dropped", ttl_seconds=60)
    store.reserve(limits=[day], amount=0, reservation_id="crashed", ttl_seconds=1)
    store.reserve(limits=[day], amount=30, reservation_id="crashed-too", ttl_seconds=1)

    assert store.settle(reservation_id="free", actual=0) is True
    assert store.release(reservation_id="dropped") is True
    assert store.release_expired(now=time.time() + 5) == 2  # one free hold must not stall the sweep

    assert used_and_reserved(store, [day]) == [(0, 0)]


def test_a_late_settle_after_expiry_still_charges_the_real_usage(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="slow", ttl_seconds=1)
    store.release_expired(now=time.time() + 5)

    assert store.release(reservation_id="slow") is False  # already released by expiry
    assert store.settle(reservation_id="slow", actual=250) is True
    assert store.settle(reservation_id="slow", actual=250) is False
    assert used_and_reserved(store, [day]) == [(250, 0)]


def test_an_expired_reservation_id_cannot_be_reserved_again(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=1)
    store.release_expired(now=time.time() + 5)

    with pytest.raises(ValueError, match="expired"):
        store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)


def test_reserving_again_under_a_pending_id_returns_the_same_hold(store: QuotaStore, limit: Callable) -> None:
    # A client that retries a reserve after a lost reply must not hold twice.
    day = limit("day", 1000)
    first = store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)

    again = store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)

    assert again == first
    assert used_and_reserved(store, [day]) == [(0, 300)]


def test_redis_release_expired_uses_the_server_clock_by_default(limit: Callable, prefix: str) -> None:
    store = RedisQuotaStore(
        redis_url=django_settings.REDIS_URL, prefix=prefix, timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS
    )
    day = limit("day", 1000)
    store.reserve(limits=[day], amount=300, reservation_id="crashed", ttl_seconds=1)
    assert store.release_expired() == 0

    time.sleep(1.05)

    assert store.release_expired() == 1
    assert used_and_reserved(store, [day]) == [(0, 0)]
    store.close()


def test_memory_release_expired_uses_its_clock_by_default(limit: Callable) -> None:
    clock = Clock(1_800_000_000.0)
    store = MemoryQuotaStore(clock=clock)
    day = limit("day", 1000, period_end=clock.now + HOUR)
    store.reserve(limits=[day], amount=300, reservation_id="crashed", ttl_seconds=30)

    clock.now += 29
    assert store.release_expired() == 0
    clock.now += 1
    assert store.release_expired() == 1
    assert used_and_reserved(store, [day]) == [(0, 0)]


def test_release_expired_works_through_many_in_batches(limit: Callable, prefix: str) -> None:
    store = RedisQuotaStore(
        redis_url=django_settings.REDIS_URL, prefix=prefix, timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS
    )
    day = limit("day", 10_000)
    for number in range(25):
        store.reserve(limits=[day], amount=10, reservation_id=f"r{number}", ttl_seconds=1)

    assert store.release_expired(now=time.time() + 5, batch=10) == 25
    assert used_and_reserved(store, [day]) == [(0, 0)]
    store.close()


def test_a_new_period_key_starts_at_zero(store: QuotaStore, limit: Callable) -> None:
    today, tomorrow = limit("day", 100, period="2026-12-01"), limit("day", 100, period="2026-12-02")
    store.reserve(limits=[today], amount=100, reservation_id="r1", ttl_seconds=60)
    store.settle(reservation_id="r1", actual=100)
    with pytest.raises(QuotaExceeded):
        store.reserve(limits=[today], amount=1, reservation_id="r2", ttl_seconds=60)

    store.reserve(limits=[tomorrow], amount=100, reservation_id="r3", ttl_seconds=60)

    assert used_and_reserved(store, [today, tomorrow]) == [(100, 0), (0, 100)]


def test_redis_counters_expire_a_margin_after_their_period_ends(limit: Callable, prefix: str) -> None:
    store = RedisQuotaStore(redis_url=django_settings.REDIS_URL, prefix=prefix, expiry_margin_seconds=600)
    period_end = time.time() + HOUR
    day = limit("day", 1000, period_end=period_end)
    store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)
    store.settle(reservation_id="r1", actual=10)
    client = redis.Redis.from_url(django_settings.REDIS_URL)

    assert client.ttl(day.key) == pytest.approx(HOUR + 600, abs=3)
    assert client.exists(f"{prefix}reservation:r1") == 0  # a settled record is gone
    client.close()
    store.close()


def test_memory_counters_vanish_a_margin_after_their_period_ends(limit: Callable) -> None:
    clock = Clock(1_800_000_000.0)
    store = MemoryQuotaStore(clock=clock, expiry_margin_seconds=600)
    day = limit("day", 1000, period_end=clock.now + HOUR)
    store.reserve(limits=[day], amount=300, reservation_id="r1", ttl_seconds=60)
    store.settle(reservation_id="r1", actual=300)

    clock.now += HOUR + 599
    assert used_and_reserved(store, [day]) == [(300, 0)]
    clock.now += 1
    assert used_and_reserved(store, [day]) == [(0, 0)]


def test_usage_reports_every_limit_for_a_quota_endpoint(store: QuotaStore, limit: Callable) -> None:
    period_end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    day, month = limit("day", 1000, period_end=period_end), limit("month", 200, period_end=period_end.timestamp())
    store.reserve(limits=[day, month], amount=150, reservation_id="r1", ttl_seconds=60)
    store.settle(reservation_id="r1", actual=180)
    store.reserve(limits=[day], amount=70, reservation_id="r2", ttl_seconds=60)

    rows = store.usage(limits=[day, month, limit("unused", 5)])

    assert [tuple(row)[:5] for row in rows] == [
        ("day", 180, 70, 1000, 750),
        ("month", 180, 0, 200, 20),
        ("unused", 0, 0, 5, 5),
    ]
    assert rows[0].reset_at == period_end
    assert rows[1].reset_at == period_end
    assert store.usage(limits=[]) == []


def test_bad_input_is_refused_before_anything_is_held(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 1000)
    with pytest.raises(ValueError, match="own key"):
        store.reserve(limits=[day, day], amount=1, reservation_id="r1", ttl_seconds=60)
    with pytest.raises(ValueError, match="amount"):
        store.reserve(limits=[day], amount=-1, reservation_id="r1", ttl_seconds=60)
    with pytest.raises(ValueError, match="ttl"):
        store.reserve(limits=[day], amount=1, reservation_id="r1", ttl_seconds=0)
    with pytest.raises(ValueError, match="naive"):
        limit("day", 1000, period_end=datetime(2026, 12, 2))
    assert used_and_reserved(store, [day]) == [(0, 0)]


async def test_the_async_api_reserves_settles_releases_and_reports(async_store: QuotaStore, limit: Callable) -> None:
    limits = [limit("day", 1000), limit("month", 400)]

    await async_store.areserve(limits=limits, amount=300, reservation_id="r1", ttl_seconds=60)
    await async_store.areserve(limits=limits, amount=50, reservation_id="r2", ttl_seconds=1)
    with pytest.raises(QuotaExceeded) as refused:
        await async_store.areserve(limits=limits, amount=100, reservation_id="r3", ttl_seconds=60)
    assert refused.value.limit.name == "month"

    assert await async_store.asettle(reservation_id="r1", actual=200) is True
    assert await async_store.asettle(reservation_id="r1", actual=200) is False
    assert await async_store.arelease_expired(now=time.time() + 5) == 1
    assert await async_store.arelease(reservation_id="r2") is False
    assert [(row.used, row.reserved) for row in await async_store.ausage(limits=limits)] == [(200, 0), (200, 0)]


async def test_concurrent_async_reserves_hold_exactly_the_budget(async_store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 100)

    async def attempt() -> bool:
        try:
            await async_store.areserve(limits=[day], amount=3, reservation_id=new_id(), ttl_seconds=60)
        except QuotaExceeded:
            return False
        return True

    admitted = await asyncio.gather(*(attempt() for _ in range(120)))

    assert sum(admitted) == 33
    assert [(row.used, row.reserved) for row in await async_store.ausage(limits=[day])] == [(0, 99)]


# Concurrency: K callers against a budget of Q hold exactly Q. test_limits_harness.py shows
# that the same harness catches a naive check-then-increment.

BUDGET = 50


def reserve_one(store: QuotaStore, limits: list[QuotaLimit]) -> bool:
    try:
        store.reserve(limits=limits, amount=1, reservation_id=new_id(), ttl_seconds=60)
    except QuotaExceeded:
        return False
    return True


def test_threads_sharing_one_store_hold_exactly_the_budget(store: QuotaStore, limit: Callable) -> None:
    limits = [limit("day", BUDGET), limit("month", 10_000)]

    admitted = in_threads(lambda: reserve_one(store, limits))

    assert admitted == BUDGET
    assert used_and_reserved(store, limits) == [(0, BUDGET), (0, BUDGET)]


def test_processes_hold_exactly_the_budget(limit: Callable, prefix: str) -> None:
    limits = [limit("day", BUDGET), limit("month", 10_000)]

    def make_attempt() -> Callable[[], bool]:
        store = RedisQuotaStore(
            redis_url=django_settings.REDIS_URL, prefix=prefix, timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS
        )
        return lambda: reserve_one(store, limits)

    assert in_processes(make_attempt) == BUDGET
    store = RedisQuotaStore(
        redis_url=django_settings.REDIS_URL, prefix=prefix, timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS
    )
    assert used_and_reserved(store, limits) == [(0, BUDGET), (0, BUDGET)]
    store.close()


# Redis unreachable: fail closed, quickly, with QuotaStoreUnavailable and nothing else.


def every_operation(store: RedisQuotaStore, limits: list[QuotaLimit]) -> list[Callable[[], object]]:
    return [
        lambda: store.reserve(limits=limits, amount=1, reservation_id="r1", ttl_seconds=60),
        lambda: store.reserve_each(holds=[Hold(limits, 1, "r1")], ttl_seconds=60),
        lambda: store.settle(reservation_id="r1", actual=1),
        lambda: store.release(reservation_id="r1"),
        lambda: store.release_expired(),
        lambda: store.usage(limits=limits),
    ]


@pytest.mark.parametrize("url", ["closed", "silent"])
def test_an_unreachable_redis_raises_quota_store_unavailable_quickly(
    url: str, silent_redis_url: str, limit: Callable, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisQuotaStore(
        redis_url=CLOSED_PORT_URL if url == "closed" else silent_redis_url,
        unavailable_retry_after_seconds=7,
        warnings=LogThrottle(),
    )
    before = METRICS.get(UNAVAILABLE_METRIC)

    with caplog.at_level(logging.WARNING, logger="tenancy.metering.quota"):
        for operation in every_operation(store, [limit("day", 1000)]):
            started = time.monotonic()
            with pytest.raises(QuotaStoreUnavailable) as unavailable:
                operation()
            assert time.monotonic() - started < 0.5
            assert unavailable.value.retry_after_seconds == 7
            assert unavailable.value.status_code == 503

    assert METRICS.get(UNAVAILABLE_METRIC) - before == 6
    assert len([r for r in caplog.records if r.name == "tenancy.metering.quota"]) == 1
    store.close()


@pytest.mark.parametrize("url", ["closed", "silent"])
async def test_the_async_api_fails_closed_too(url: str, silent_redis_url: str, limit: Callable) -> None:
    store = RedisQuotaStore(redis_url=CLOSED_PORT_URL if url == "closed" else silent_redis_url)
    limits = [limit("day", 1000)]
    operations: list[Callable[[], Awaitable[object]]] = [
        lambda: store.areserve(limits=limits, amount=1, reservation_id="r1", ttl_seconds=60),
        lambda: store.asettle(reservation_id="r1", actual=1),
        lambda: store.arelease(reservation_id="r1"),
        lambda: store.arelease_expired(),
        lambda: store.ausage(limits=limits),
    ]

    for operation in operations:
        started = time.monotonic()
        with pytest.raises(QuotaStoreUnavailable):
            await operation()
        assert time.monotonic() - started < 0.5
    await store.aclose()


def test_the_process_store_is_shared_and_in_memory_only_without_redis(settings: Any) -> None:
    shared = get_quota_store()
    assert shared is get_quota_store()
    assert isinstance(shared, RedisQuotaStore)

    settings.REDIS_URL = ""

    assert isinstance(get_quota_store(), MemoryQuotaStore)
    quota._stores.forget("")


def test_reserve_each_holds_each_hold_or_names_its_refusal(store: QuotaStore, limit: Callable) -> None:
    tokens, cost = [limit("tokens", 1000)], [limit("cost", 100)]
    outcomes = store.reserve_each(holds=[Hold(tokens, 300, "tokens-1"), Hold(cost, 150, "cost-1")], ttl_seconds=60)
    assert isinstance(outcomes[0], Reservation)
    assert outcomes[0].amount == 300
    assert isinstance(outcomes[1], QuotaExceeded)
    assert outcomes[1].limit == cost[0]
    assert used_and_reserved(store, tokens + cost) == [(0, 300), (0, 0)]  # the refused hold holds nothing
    again = store.reserve_each(holds=[Hold(tokens, 300, "tokens-1"), Hold(cost, 90, "cost-2")], ttl_seconds=60)
    assert [type(outcome) for outcome in again] == [Reservation, Reservation]  # the pending id: the same hold
    assert used_and_reserved(store, tokens + cost) == [(0, 300), (0, 90)]


def test_reserve_each_seeds_the_counters_a_hold_lacks(store: QuotaStore, limit: Callable) -> None:
    day, month = limit("day", 1000), limit("month", 5000)
    store.reserve(limits=[month], amount=10, reservation_id="made-month", ttl_seconds=60)
    outcomes = store.reserve_each(
        holds=[Hold([month], 5, "r1"), Hold([day], 60, "r2")],
        ttl_seconds=60,
        rebuild=lambda missing: [950] * len(missing),
    )
    assert [type(outcome) for outcome in outcomes] == [Reservation, QuotaExceeded]
    assert used_and_reserved(store, [day, month]) == [(950, 0), (0, 15)]


def test_reserve_each_loads_its_script_again_when_redis_lost_it(limit: Callable, prefix: str) -> None:
    store = RedisQuotaStore(redis_url=django_settings.REDIS_URL, prefix=prefix)
    store._clients.sync().scripts["reserve"].sha = "0" * 40  # as after a restart: Redis knows no such script
    outcomes = store.reserve_each(
        holds=[Hold([limit("day", 100)], 10, "r1"), Hold([limit("month", 100)], 20, "r2")], ttl_seconds=60
    )
    assert [outcome.amount for outcome in outcomes if isinstance(outcome, Reservation)] == [10, 20]
    assert store._clients.sync().scripts["reserve"].sha != "0" * 40  # loaded again, under its real digest
    store.close()


def test_a_missing_counter_is_seeded_by_rebuild_before_the_reserve_counts(store: QuotaStore, limit: Callable) -> None:
    day, month = limit("day", 1000), limit("month", 5000)
    store.reserve(limits=[month], amount=10, reservation_id="made-month", ttl_seconds=60)
    asked: list[list[str]] = []

    def rebuild(missing: Any) -> list[int]:
        asked.append([m.name for m in missing])
        return [950 for _ in missing]

    with pytest.raises(QuotaExceeded) as refused:
        store.reserve(limits=[day, month], amount=60, reservation_id="r1", ttl_seconds=60, rebuild=rebuild)
    assert asked == [["day"]]  # only the counter that did not exist
    assert (refused.value.limit, refused.value.used) == (day, 950)
    store.reserve(limits=[day, month], amount=50, reservation_id="r2", ttl_seconds=60, rebuild=rebuild)
    assert asked == [["day"]]  # once seeded, a counter is never rebuilt again
    assert used_and_reserved(store, [day, month]) == [(950, 50), (0, 60)]


def test_without_rebuild_a_missing_counter_starts_at_zero(store: QuotaStore, limit: Callable) -> None:
    day = limit("day", 100)
    store.reserve(limits=[day], amount=100, reservation_id="r1", ttl_seconds=60)
    assert used_and_reserved(store, [day]) == [(0, 100)]
