"""Redis pools shared by the process: every cache object on one pool, and a channel layer that waits
for a connection instead of failing when its pool is busy."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import redis.exceptions
from channels_redis.core import RedisChannelLayer
from django.core.cache import caches

from chatpresets.redis_pools import BoundedRedisChannelLayer

REDIS_URL = os.environ["REDIS_URL"]


def test_cache_objects_of_different_contexts_share_one_connection_pool() -> None:
    pools = []

    def in_a_fresh_context() -> None:  # a thread, like a socket's context, gets a cache object of its own
        cache = caches.create_connection("default")
        cache.set("shared-pool-probe", "yes", timeout=5)
        assert cache.get("shared-pool-probe") == "yes"
        pools.append(cache._cache._get_connection_pool(write=True))

    threads = [threading.Thread(target=in_a_fresh_context) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(pools) == 8
    assert len({id(pool) for pool in pools}) == 1


async def burst_of_group_adds(layer: RedisChannelLayer, count: int) -> None:
    channels = [await layer.new_channel() for _ in range(count)]
    await asyncio.gather(*(layer.group_add("pool-probe", channel) for channel in channels))
    await asyncio.gather(*(layer.group_discard("pool-probe", channel) for channel in channels))
    await layer.flush()


def layer_of(kind: type[RedisChannelLayer]) -> RedisChannelLayer:
    host = {"address": REDIS_URL, "max_connections": 2}
    if kind is BoundedRedisChannelLayer:
        host["timeout"] = 5
    return kind(hosts=[host], prefix="pool-probe-test")


def test_a_busy_channel_layer_pool_makes_calls_wait_for_a_connection() -> None:
    asyncio.run(burst_of_group_adds(layer_of(BoundedRedisChannelLayer), 50))


def test_channels_redis_own_pool_fails_the_same_burst() -> None:
    # The reason for the bounded layer: without it a full pool raises instead of waiting.
    with pytest.raises(redis.exceptions.ConnectionError):
        asyncio.run(burst_of_group_adds(layer_of(RedisChannelLayer), 50))
