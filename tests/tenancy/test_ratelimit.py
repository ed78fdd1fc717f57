"""The GCRA rate limiter against the suite's real Redis, and its in-process twin and fallback."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from tenancy.metering import ratelimit
from tenancy.metering.clients import METRICS, LogThrottle
from tenancy.metering.gcra import MemoryRateLimiter
from tenancy.metering.ratelimit import FAIL_OPEN_METRIC, REDIS_ERROR_METRIC, Limit, RateLimiter, get_rate_limiter
from tests.clock import Clock
from tests.tenancy.limits_harness import in_processes, in_threads

CLOSED_PORT_URL = "redis://127.0.0.1:1/13"


# The production default (a quarter second) is about outages; the fixture's limiter is about counting, and
# a burst of fifty simultaneous connects on a loaded CI machine can take longer than that to be scheduled.
LOADED_MACHINE_TIMEOUT_SECONDS = 5.0


@pytest.fixture(params=["redis", "memory"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    limiter = RateLimiter(
        redis_url=django_settings.REDIS_URL if request.param == "redis" else "",
        timeout_seconds=LOADED_MACHINE_TIMEOUT_SECONDS,
    )
    yield limiter
    limiter.close()


@pytest.fixture
async def async_limiter(limiter: RateLimiter) -> AsyncIterator[RateLimiter]:
    yield limiter
    await limiter.aclose()


@pytest.fixture
def silent_redis_url() -> Iterator[str]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/13"
    server.close()


def test_a_fresh_bucket_admits_a_burst_of_exactly_the_limit(limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rpm", limit=5, period_seconds=60)]

    decisions = [limiter.check(limits=limits) for _ in range(6)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert decisions[0].limit == 5
    assert decisions[0].limit_name == f"{prefix}rpm"
    assert decisions[-1].retry_after_seconds == pytest.approx(12.0, abs=0.1)


def test_after_the_burst_requests_are_admitted_at_the_steady_rate(limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}fast", limit=10, period_seconds=1.0)]  # one per 100 ms
    for _ in range(10):
        assert limiter.check(limits=limits).allowed

    refused = limiter.check(limits=limits)
    assert not refused.allowed
    assert 0.05 < refused.retry_after_seconds <= 0.1

    time.sleep(refused.retry_after_seconds + 0.005)
    assert limiter.check(limits=limits).allowed
    assert not limiter.check(limits=limits).allowed

    time.sleep(0.35)  # three and a half intervals refill three requests, not four
    assert [limiter.check(limits=limits).allowed for _ in range(4)] == [True, True, True, False]


def test_a_refused_check_consumes_nothing_on_the_other_limits(limiter: RateLimiter, prefix: str) -> None:
    roomy = Limit(f"{prefix}user", limit=100, period_seconds=60)
    strict = Limit(f"{prefix}key", limit=1, period_seconds=60, name="key rpm")
    assert limiter.check(limits=[roomy, strict]).allowed

    refused = [limiter.check(limits=[roomy, strict]) for _ in range(5)]

    assert not any(d.allowed for d in refused)
    assert {d.limit_name for d in refused} == {"key rpm"}
    assert limiter.check(limits=[roomy]).remaining == 98  # only the admitted request and this one


def test_a_refusal_names_the_limit_that_must_wait_longest(limiter: RateLimiter, prefix: str) -> None:
    per_second = Limit(f"{prefix}rps", limit=1, period_seconds=1, name="rps")
    per_minute = Limit(f"{prefix}rpm", limit=1, period_seconds=60, name="rpm")
    assert limiter.check(limits=[per_second, per_minute]).allowed

    decision = limiter.check(limits=[per_second, per_minute])

    assert not decision.allowed
    assert decision.limit_name == "rpm"
    assert decision.limit == 1
    assert decision.remaining == 0
    assert decision.retry_after_seconds == pytest.approx(60.0, abs=0.1)
    assert decision.reset_after_seconds == pytest.approx(60.0, abs=0.1)


def test_an_allowed_decision_describes_the_limit_with_the_smallest_share_left(
    limiter: RateLimiter, prefix: str
) -> None:
    requests = Limit(f"{prefix}rpm", limit=60, period_seconds=60, name="rpm")
    tokens = Limit(f"{prefix}tpm", limit=1000, period_seconds=60, cost=900, name="tpm")

    decision = limiter.check(limits=[requests, tokens])

    assert decision.allowed
    assert (decision.limit_name, decision.limit, decision.remaining) == ("tpm", 1000, 100)
    assert decision.retry_after_seconds == 0.0
    assert decision.reset_after_seconds == pytest.approx(54.0, abs=0.1)  # 900 tokens at 1000 per minute


def test_a_token_limit_charges_the_cost_of_each_request(limiter: RateLimiter, prefix: str) -> None:
    def tokens(cost: int) -> Limit:
        return Limit(f"{prefix}tpm", limit=1000, period_seconds=60, cost=cost)

    assert limiter.check(limits=[tokens(600)]).allowed
    refused = limiter.check(limits=[tokens(600)])
    assert not refused.allowed
    assert refused.remaining == 400
    assert refused.retry_after_seconds == pytest.approx(12.0, abs=0.1)  # 200 tokens at 1000 per minute
    assert limiter.check(limits=[tokens(400)]).allowed


def test_a_cost_above_the_limit_is_never_admitted_and_says_so(limiter: RateLimiter, prefix: str) -> None:
    other = Limit(f"{prefix}rpm", limit=10, period_seconds=60)
    too_big = Limit(f"{prefix}tpm", limit=1000, period_seconds=60, cost=1001, name="tpm")

    decision = limiter.check(limits=[other, too_big])

    assert not decision.allowed
    assert decision.limit_name == "tpm"
    assert math.isinf(decision.retry_after_seconds)
    assert not decision.retryable
    assert limiter.check(limits=[other]).remaining == 9  # the refused check charged nothing


def test_there_is_no_double_burst_across_a_period_boundary(limiter: RateLimiter, prefix: str) -> None:
    # A fixed window would admit a second full burst right after its boundary; GCRA refills steadily.
    limits = [Limit(f"{prefix}rps", limit=4, period_seconds=0.4)]  # one per 100 ms
    assert all(limiter.check(limits=limits).allowed for _ in range(4))

    time.sleep(0.25)

    assert [limiter.check(limits=limits).allowed for _ in range(4)] == [True, True, False, False]


def test_the_bucket_is_full_again_after_reset_after_seconds(limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rps", limit=5, period_seconds=0.5)]
    decisions = [limiter.check(limits=limits) for _ in range(5)]
    assert decisions[-1].remaining == 0
    assert decisions[-1].reset_after_seconds == pytest.approx(0.5, abs=0.05)

    time.sleep(decisions[-1].reset_after_seconds + 0.01)

    assert limiter.check(limits=limits).remaining == 4
    assert sum(limiter.check(limits=limits).allowed for _ in range(5)) == 4


def test_reset_forgets_a_bucket(limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rpm", limit=2, period_seconds=60)]
    limiter.check(limits=limits)
    limiter.check(limits=limits)
    assert not limiter.check(limits=limits).allowed

    limiter.reset(keys=[f"{prefix}rpm"])

    assert limiter.check(limits=limits).remaining == 1


def test_adjust_refunds_an_overestimate_and_charges_an_underestimate(limiter: RateLimiter, prefix: str) -> None:
    def tokens(cost: int) -> Limit:
        return Limit(f"{prefix}tpm", limit=1000, period_seconds=60, cost=cost)

    assert limiter.check(limits=[tokens(800)]).allowed  # the estimate
    limiter.adjust(limit=tokens(0), delta=-500)  # the call used 300
    assert limiter.check(limits=[tokens(700)]).allowed

    limiter.adjust(limit=tokens(0), delta=200)  # a call used 200 more than estimated: a debt
    refused = limiter.check(limits=[tokens(1)])
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(12.06, abs=0.1)


def test_adjust_many_refunds_every_limit_in_one_call(limiter: RateLimiter, prefix: str) -> None:
    user, org = (Limit(f"{prefix}{who}", limit=1000, period_seconds=60, cost=900) for who in ("user", "org"))
    assert limiter.check(limits=[user, org]).allowed
    assert not limiter.check(limits=[user, org]).allowed  # 900 + 900 > 1000 on both

    limiter.adjust_many(limits=[user, org], delta=-800)  # the call used 100 of its 900

    assert limiter.check(limits=[user, org]).allowed


def test_a_refund_never_fills_a_bucket_beyond_full(limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rpm", limit=3, period_seconds=60)]

    limiter.adjust(limit=limits[0], delta=-10)

    assert [limiter.check(limits=limits).allowed for _ in range(4)] == [True, True, True, False]


def test_two_limits_on_one_key_are_refused(limiter: RateLimiter, prefix: str) -> None:
    with pytest.raises(ValueError, match="own key"):
        limiter.check(limits=[Limit(f"{prefix}k", 1, 60), Limit(f"{prefix}k", 5, 1)])


def test_a_check_without_limits_is_allowed(limiter: RateLimiter) -> None:
    decision = limiter.check(limits=[])

    assert decision.allowed
    assert decision.limit_name is None


def test_redis_state_expires_when_the_bucket_would_be_full(prefix: str) -> None:
    limiter = RateLimiter(redis_url=django_settings.REDIS_URL)
    decision = limiter.check(limits=[Limit(f"{prefix}rpm", limit=60, period_seconds=60, cost=30)])
    client = redis.Redis.from_url(django_settings.REDIS_URL)

    assert client.pttl(f"{prefix}rpm") == pytest.approx(decision.reset_after_seconds * 1000, abs=50)
    client.close()
    limiter.close()


def test_the_memory_limiter_matches_gcra_exactly_on_a_fake_clock() -> None:
    clock = Clock(1_800_000_000.0)
    memory = MemoryRateLimiter(clock=clock)
    limits = [Limit("k", limit=7, period_seconds=1)]  # a non-integral interval: 142857.142… µs

    assert [memory.check(limits=limits).allowed for _ in range(8)] == [True] * 7 + [False]
    refused = memory.check(limits=limits)
    assert refused.retry_after_seconds == pytest.approx(1 / 7, abs=1e-5)

    clock.now += 1 / 7
    assert memory.check(limits=limits).allowed
    clock.now += 10
    assert memory.check(limits=limits).remaining == 6


async def test_acheck_admits_and_refuses_like_check(async_limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rpm", limit=3, period_seconds=60), Limit(f"{prefix}tpm", 100, 60, cost=10)]

    decisions = [await async_limiter.acheck(limits=limits) for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].limit_name == f"{prefix}rpm"
    assert decisions[-1].retry_after_seconds == pytest.approx(20.0, abs=0.1)
    await async_limiter.aadjust(limit=limits[1], delta=-30)
    await async_limiter.areset(keys=[f"{prefix}rpm"])
    assert (await async_limiter.acheck(limits=limits[1:])).remaining == 90


async def test_concurrent_async_checks_admit_exactly_the_limit(async_limiter: RateLimiter, prefix: str) -> None:
    limits = [Limit(f"{prefix}rph", limit=37, period_seconds=3600)]

    decisions = await asyncio.gather(*(async_limiter.acheck(limits=limits) for _ in range(120)))

    assert sum(d.allowed for d in decisions) == 37


def test_the_async_client_follows_the_running_loop(prefix: str) -> None:
    # pytest-asyncio and asyncio.run give every test a new loop; a client bound to a closed loop
    # would fail, and the fallback would hide it: so the fail-open counter must not move.
    limiter = RateLimiter(redis_url=django_settings.REDIS_URL)
    limits = [Limit(f"{prefix}rpm", limit=5, period_seconds=60)]
    before = METRICS.get(FAIL_OPEN_METRIC)

    remaining = [asyncio.run(limiter.acheck(limits=limits)).remaining for _ in range(3)]

    assert remaining == [4, 3, 2]
    assert METRICS.get(FAIL_OPEN_METRIC) == before
    limiter.close()


# Concurrency: K callers against a limit of Q admit exactly Q. test_limits_harness.py shows
# that the same harness catches a naive check-then-increment.

LIMIT = 37


def test_threads_sharing_one_limiter_admit_exactly_the_limit(prefix: str) -> None:
    limiter = RateLimiter(redis_url=django_settings.REDIS_URL)
    limits = [Limit(f"{prefix}rph", limit=LIMIT, period_seconds=3600), Limit(f"{prefix}org", 1000, 3600)]

    admitted = in_threads(lambda: limiter.check(limits=limits).allowed)

    assert admitted == LIMIT
    assert limiter.check(limits=limits[1:]).remaining == 1000 - LIMIT - 1
    limiter.close()


def test_processes_admit_exactly_the_limit(prefix: str) -> None:
    limits = [Limit(f"{prefix}rph", limit=LIMIT, period_seconds=3600)]

    def make_attempt() -> Callable[[], bool]:
        limiter = RateLimiter(redis_url=django_settings.REDIS_URL)
        return lambda: limiter.check(limits=limits).allowed

    assert in_processes(make_attempt) == LIMIT


# Redis unreachable: fail open to the in-process limiter, warn (rarely), count.


def test_a_closed_port_falls_back_to_limiting_in_process(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(redis_url=CLOSED_PORT_URL, redis_retry_after_seconds=0, warnings=LogThrottle())
    limits = [Limit("rl:user:7:rpm", limit=3, period_seconds=60)]
    fail_open, errors = METRICS.get(FAIL_OPEN_METRIC), METRICS.get(REDIS_ERROR_METRIC)
    started = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="tenancy.metering.ratelimit"):
        decisions = [limiter.check(limits=limits) for _ in range(5)]

    assert time.monotonic() - started < 1.0
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert METRICS.get(FAIL_OPEN_METRIC) - fail_open == 5
    assert METRICS.get(REDIS_ERROR_METRIC) - errors == 5  # every call tried Redis again
    warnings = [r for r in caplog.records if r.name == "tenancy.metering.ratelimit"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "in this process only" in warnings[0].getMessage()
    limiter.close()


def test_a_hanging_redis_costs_one_timeout_then_memory_decides(silent_redis_url: str) -> None:
    limiter = RateLimiter(redis_url=silent_redis_url, redis_retry_after_seconds=30, warnings=LogThrottle())
    limits = [Limit("rl:key:3:rpm", limit=2, period_seconds=60)]
    errors = METRICS.get(REDIS_ERROR_METRIC)
    started = time.monotonic()

    decisions = [limiter.check(limits=limits) for _ in range(3)]

    assert time.monotonic() - started < 0.6  # one 0.25 s timeout, then straight to memory
    assert [d.allowed for d in decisions] == [True, True, False]
    assert METRICS.get(REDIS_ERROR_METRIC) - errors == 1
    limiter.adjust(limit=limits[0], delta=-1)  # adjust falls back too, and never raises
    assert limiter.check(limits=limits).allowed
    limiter.close()


async def test_acheck_falls_back_when_redis_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(redis_url=CLOSED_PORT_URL, redis_retry_after_seconds=0, warnings=LogThrottle())
    limits = [Limit("rl:org:1:tpm", limit=100, period_seconds=60, cost=40)]
    fail_open = METRICS.get(FAIL_OPEN_METRIC)

    with caplog.at_level(logging.WARNING, logger="tenancy.metering.ratelimit"):
        decisions = [await limiter.acheck(limits=limits) for _ in range(3)]
        await limiter.aadjust(limit=limits[0], delta=-40)
        await limiter.areset(keys=["rl:other"])

    assert [d.allowed for d in decisions] == [True, True, False]
    assert METRICS.get(FAIL_OPEN_METRIC) - fail_open == 3
    assert len([r for r in caplog.records if r.name == "tenancy.metering.ratelimit"]) == 1
    await limiter.aclose()


def test_the_process_limiter_is_shared_and_memory_only_without_redis(settings: Any) -> None:
    assert get_rate_limiter() is get_rate_limiter()
    assert get_rate_limiter().redis_url == settings.REDIS_URL

    settings.REDIS_URL = ""
    embedded = get_rate_limiter()
    fail_open = METRICS.get(FAIL_OPEN_METRIC)

    assert embedded.redis_url == ""
    assert embedded.check(limits=[Limit("rl:embedded", 1, 60)]).allowed
    assert not embedded.check(limits=[Limit("rl:embedded", 1, 60)]).allowed
    assert METRICS.get(FAIL_OPEN_METRIC) == fail_open  # memory by design is not a fallback
    ratelimit._limiters.forget("")
