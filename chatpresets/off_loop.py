"""Work a request hands to a worker thread, kept whole when the request is cancelled meanwhile.

A client that leaves cancels its request's task, but not the thread already running its work:
that work still finishes, and what it took (a stream slot, the admission gate's place, quota
reservations, a stored pending answer) would be held with nobody left to give it back. So the
request waits for the thread, undoes its result, and only then ends cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from chatpresets.socket_threads import database_sync_to_async

P = ParamSpec("P")
R = TypeVar("R")


async def undone_if_abandoned(work: Callable[P, R], undo: Callable[[R], None], *args: P.args, **kwargs: P.kwargs) -> R:
    """`work(*args, **kwargs)` in a worker thread; if the caller is cancelled before it returns, its
    result is passed to `undo` (in a worker thread too) once it does, and the cancellation goes on."""
    running = asyncio.ensure_future(database_sync_to_async(work)(*args, **kwargs))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # the work refused or failed: it holds nothing
            done = await running
            await database_sync_to_async(undo)(done)
        raise
