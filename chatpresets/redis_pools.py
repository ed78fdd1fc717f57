"""Redis connection pools a web process shares, so its connections follow the work, not the sockets.

Django keeps a cache object per async context, and each object built its own connection pool, which
only an HTTP request's end closes: a websocket never reaches it, so every open socket kept a Redis
connection of its own (1,057 for 1,000 sockets, bench/websocket_capacity.py), two open files per
socket, and Redis's `maxclients` is shared by every process. `SharedConnectionPool` gives every cache
object of the process one pool per server (redis-py's pools are thread-safe and reset after a fork).

channels_redis builds a plain asyncio pool, which raises MaxConnectionsError once 100 connections
are busy instead of waiting for one (seen at the end of 1,000 answers); `BoundedRedisChannelLayer`
uses a blocking pool of CHANNEL_LAYER_MAX_CONNECTIONS that waits up to its `timeout`.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class SharedConnectionPool(redis.ConnectionPool):
    """`from_url` hands back the process's pool for that server and those options, made once."""

    _shared: dict[tuple[str, tuple[tuple[str, Any], ...]], SharedConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> SharedConnectionPool:
        key = (url, tuple(sorted(kwargs.items(), key=lambda item: item[0])))
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = super().from_url(url, **kwargs)
            return cls._shared[key]


class BoundedRedisChannelLayer(RedisChannelLayer):
    """channels_redis with a pool that waits for a free connection (`max_connections`, `timeout` per host)."""

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
