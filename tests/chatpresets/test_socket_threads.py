"""A websocket's blocking calls run on a pool of threads, side by side with other sockets'
(chatpresets/socket_threads.py), not queued on asgiref's one shared thread; outside a socket they
stay on the caller's thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.sync import sync_to_async as asgiref_sync_to_async

from chatpresets import socket_threads
from chatpresets.socket_threads import database_sync_to_async, sync_to_async
from tenancy.ws_auth import ApiKeyOrSessionAuth


def meet(barrier: threading.Barrier) -> str:
    barrier.wait()  # on one shared thread the second call never starts: the first times out
    return threading.current_thread().name


async def as_socket(*calls: Any) -> list[Any]:
    """Run the calls concurrently in a task of their own that marked itself a socket's."""

    async def socket_task() -> list[Any]:
        socket_threads.use_pool()
        return await asyncio.gather(*calls)

    return await asyncio.create_task(socket_task())


async def test_two_sockets_database_calls_run_at_the_same_time_on_the_pool() -> None:
    barrier = threading.Barrier(2, timeout=5)
    names = await as_socket(database_sync_to_async(meet)(barrier), database_sync_to_async(meet)(barrier))
    assert len(set(names)) == 2
    assert all(name.startswith("socket-db") for name in names)


async def test_a_task_started_by_a_socket_also_runs_its_calls_on_the_pool() -> None:
    async def answer_task() -> str:  # an answer outlives its socket as a task of its own
        return await asyncio.create_task(sync_to_async(lambda: threading.current_thread().name)())

    (name,) = await as_socket(answer_task())
    assert name.startswith("socket-db")


async def test_a_task_that_is_not_a_socket_keeps_the_shared_thread() -> None:
    name = await database_sync_to_async(lambda: threading.current_thread().name)()
    assert not name.startswith("socket-db")
    assert not socket_threads.pooled()


def test_outside_a_socket_calls_stay_on_the_callers_thread() -> None:
    """As Django's own calls in an HTTP request or under a sync test, which sees its uncommitted rows only there."""
    thread = async_to_sync(database_sync_to_async(threading.current_thread))()
    assert thread is threading.current_thread()


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_handshake_puts_the_socket_on_the_pool() -> None:
    seen: dict[str, bool] = {}

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["pooled"] = socket_threads.pooled()

    scope = {"type": "websocket", "headers": [(b"authorization", b"Bearer cpk_unknown")], "client": ("10.0.0.1", 1)}
    await asyncio.create_task(ApiKeyOrSessionAuth(inner)(scope, None, None))
    assert seen == {"pooled": True}


@pytest.mark.django_db(transaction=True)
async def test_a_session_sockets_user_is_looked_up_while_the_shared_thread_is_busy(alice, client) -> None:
    await asgiref_sync_to_async(client.force_login)(alice)
    release, seen = threading.Event(), {}
    busy = asyncio.create_task(asgiref_sync_to_async(release.wait)())  # asgiref's one shared thread, taken

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["user"] = scope["user"].pk

    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://localhost")]
    scope = {"type": "websocket", "path": "/ws/", "headers": headers, "client": ("10.0.0.1", 1)}
    try:
        await asyncio.wait_for(asyncio.create_task(ApiKeyOrSessionAuth(inner)(scope, None, None)), timeout=5)
    finally:
        release.set()
        await busy
    assert seen == {"user": alice.pk}
