"""Blocking calls made for websockets run on a pool of threads, not on asgiref's one shared thread.

`database_sync_to_async` (and Django's async cache methods) are thread-sensitive: inside an HTTP
request they run on that request's own thread, which Django gives each request, but a websocket
has none, so every socket of a process (handshakes, turns, each answer's flushes and stop checks)
queued on ONE thread, and a thousand sockets' turns waited for each other's queries. A socket's
task calls `use_pool()` first; from then on the calls below, in that task and in every task it
starts (an answer outlives its socket), go to a pool of DATABASE_POOL_MAX_SIZE threads, as many as
there are connections to hand them. Anywhere else (HTTP requests, a test's sync caller) they stay
thread-sensitive, as before: a test's uncommitted rows are visible only on its own thread.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")

_pooled: contextvars.ContextVar[bool] = contextvars.ContextVar("socket_threads_pooled", default=False)
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def use_pool() -> None:
    """This task, and every task it starts from now on, runs its blocking calls on the pool."""
    _pooled.set(True)


def pooled() -> bool:
    return _pooled.get()


def executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, settings.DATABASE_POOL_MAX_SIZE), thread_name_prefix="socket-db"
            )
        return _executor


def database_sync_to_async(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """channels.db.database_sync_to_async (old connections closed before and after), on the pool in a socket's task."""
    return _off_loop(DatabaseSyncToAsync, func)


def sync_to_async(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """asgiref's sync_to_async, on the pool in a socket's task (a cache read, which opens no database connection)."""
    return _off_loop(SyncToAsync, func)


def _off_loop(kind: type[SyncToAsync], func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if _pooled.get():
            return await kind(_handing_back(func), thread_sensitive=False, executor=executor())(*args, **kwargs)
        return await kind(func)(*args, **kwargs)

    return call


def _handing_back(func: Callable[P, R]) -> Callable[P, R]:
    """The call, then every connection its pool thread holds goes back to the connection pool: an
    idle thread must not sit on one (nor keep a database from being dropped)."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()

    return run
