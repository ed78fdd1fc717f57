"""A real Redis stopped mid-test: rate limits fail open, quotas refuse with 503, nothing is lost.

The guardrails get their own redis-server process, so stopping it leaves the suite's cache and
channel layer (on the shared Redis) untouched.
"""

from __future__ import annotations

import shutil

import pytest

from chatpresets.cache_outage import BREAKER
from conversations.models import Message
from presets import selectors
from presets.services import lifecycle
from tenancy.metering.gcra import Limit
from tenancy.metering.ratelimit import get_rate_limiter
from tests.conversations.test_guardrails import limit
from tests.conversations.test_http import send, start
from tests.presets_world import make_preset
from tests.redis_process import RedisProcess

pytestmark = [
    pytest.mark.usefixtures("fake_llm"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]


def test_quotas_refuse_with_503_when_redis_stops_and_the_retry_succeeds_after(
    api, acme, alice, fake_llm, guardrail_redis
) -> None:
    limit(acme, user_rpm=100, org_tokens_day=1_000_000)
    chat = start(api, alice)
    assert send(api, alice, chat["id"], "before", client_id="m1").status_code == 201
    guardrail_redis.stop()
    calls = len(fake_llm.requests)
    refused = send(api, alice, chat["id"], "during", client_id="m2")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "quota_store_unavailable"
    assert int(refused["Retry-After"]) >= 1
    assert len(fake_llm.requests) == calls  # no model call
    assert not Message.objects.filter(client_id="m2").exists()  # nothing half-stored
    guardrail_redis.start()  # a new, empty Redis: the client's retry goes through
    assert send(api, alice, chat["id"], "during", client_id="m2").status_code == 201
    assert list(Message.objects.filter(role="user").order_by("seq").values_list("content", flat=True)) == [
        "before",
        "during",
    ]


def test_rate_limits_fail_open_but_still_limit_in_process_when_redis_stops(api, acme, alice, guardrail_redis) -> None:
    limit(acme, user_rpm=3)
    chat = start(api, alice)
    assert send(api, alice, chat["id"], "one").status_code == 201
    guardrail_redis.stop()
    statuses = [send(api, alice, chat["id"], f"n{n}").status_code for n in range(4)]
    assert 500 not in statuses
    assert statuses[0] == 201  # failing open: the answer still comes
    assert 429 in statuses  # the per-process limiter still holds the line
    assert get_rate_limiter().check(limits=[Limit("probe", 10, 60.0)]).allowed


@pytest.fixture
def cache_redis(settings, guardrail_redis) -> RedisProcess:
    """The cache on the test's own redis-server too (Django drops its cache connections on the change)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": guardrail_redis.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    return guardrail_redis


def test_reads_still_answer_and_a_turn_is_503_while_redis_is_down(api, acme, alice, cache_redis, make_key) -> None:
    limit(acme, org_tokens_day=1_000_000)
    _, key = make_key(alice, acme, ["presets:read"])
    preset = lifecycle.preset_update(preset=make_preset(acme, alice, "tutor"), actor=alice, model="fake")
    chat = start(api, alice, preset=str(preset.pk))
    selectors._process_cache.clear()  # preset content must come from the shared cache or the database
    cache_redis.stop()
    failures = BREAKER.failures
    client = api(alice)
    client.raise_request_exception = False
    for path in (
        "/api/v1/me/",
        "/api/v1/orgs/acme/presets/",
        f"/api/v1/orgs/acme/presets/{preset.pk}/",
        "/api/v1/orgs/acme/conversations/",
        f"/api/v1/orgs/acme/conversations/{chat['id']}/",
    ):
        assert client.get(path).status_code == 200, path
    assert BREAKER.failures > failures  # the cache really was tried, and did not answer
    # The API-key guard counts in the cache too: it steps aside, it does not refuse every key.
    assert api(key=key).get("/api/v1/me/").status_code == 200
    assert api(key=key + "x").get("/api/v1/me/").status_code == 401
    refused = send(api, alice, chat["id"], "during", client_id="m1")
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "quota_store_unavailable")
