"""Graceful shutdown of a web process on SIGTERM.

daphne, left alone, stops the Twisted reactor on SIGTERM at once, and the reactor cancels every
application instance: an answer in flight is cut off mid-sentence. Once the reactor runs, this
module takes SIGTERM over and drains the process instead:

- new turns are refused with 503 `shutting_down` and Retry-After (a websocket gets the error
  frame), /readyz reports `draining`, so the load balancer sends them elsewhere;
- answers in flight get SHUTDOWN_GRACE_SECONDS to finish; a socket may still resume one here;
- answers still streaming then end `interrupted`, their partial text stored and their quota
  holds settled to what they used (the same ending a stop takes), and only then does the reactor
  stop. A second SIGTERM skips what is left of the grace period.

The listener stays open while draining: a request that arrives before the load balancer has seen
readiness fail gets a 503 it can retry elsewhere, rather than a refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from rest_framework import status

from chatpresets.errors import DomainError

logger = logging.getLogger(__name__)
# How long interrupted answers get to store their text and settle their holds before the exit.
INTERRUPT_SETTLE_SECONDS = 5.0
POLL_SECONDS = 0.05
# An answer is stored before its `done` frame is written: give the frames time to leave before the
# reactor stops and daphne cancels the connections.
LAST_FRAMES_SECONDS = 0.5

_draining = threading.Event()  # read from worker threads too (a turn is admitted on one)
_hurry = threading.Event()
_interrupting = False
# Each model call streaming in this process, by a key of its own: how to interrupt it, or None for a
# call only its transport can end (a /v1 call: daphne cancels it after the drain, as if its client left).
_streams: dict[object, Callable[[], None] | None] = {}
# What each turn admitted in this process holds until it is finished or released (its stream slot), from
# its admission on: a drain that starts while the turn is still being prepared (its message stored, its
# model not yet asked) waits for it. Weak: a holder dropped without being released is no longer waited for.
_admitted: weakref.WeakSet[Any] = weakref.WeakSet()
_drain_task: asyncio.Future | None = None  # held so the running drain is not garbage-collected


class ShuttingDown(DomainError):
    code = "shutting_down"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "This server is shutting down; retry and another one will answer."

    def __init__(self) -> None:
        self.retry_after_seconds = 1
        super().__init__(details={"retry_after": 1})


def draining() -> bool:
    return _draining.is_set()


def refuse_if_draining() -> None:
    """A new turn may not start once the process drains: it could not finish here."""
    if _draining.is_set():
        raise ShuttingDown()


def admitted(holder: Any) -> None:
    """Count a turn in flight while `holder` (what it holds until it ends) is held, until `ended(holder)`;
    ShuttingDown once the process drains. Counted before the check, so a drain (which sets draining before
    it counts) sees every turn that got past it."""
    _admitted.add(holder)
    if _draining.is_set():
        _admitted.discard(holder)
        raise ShuttingDown()


def ended(holder: Any) -> None:
    """The turn `holder` stood for is finished or released. Idempotent."""
    _admitted.discard(holder)


@contextlib.contextmanager
def streaming(interrupt: Callable[[], None] | None) -> Iterator[None]:
    """Count a call as in flight while the block runs; `interrupt` ends it early when the grace runs out."""
    key = object()
    _streams[key] = interrupt
    if _interrupting and interrupt is not None:  # prepared before the drain, started after its grace
        interrupt()
    try:
        yield
    finally:
        _streams.pop(key, None)


def forget_admitted() -> None:
    """No turn admitted, as in a fresh process: for tests (with `stream_slots.forget_all`)."""
    _admitted.clear()


def in_flight() -> int:
    return len(_streams)


async def drain(*, grace_seconds: float) -> None:
    """Refuse new turns, let calls in flight finish within the grace, then interrupt the answers left."""
    global _interrupting
    _draining.set()
    loop = asyncio.get_running_loop()
    logger.warning(
        "SIGTERM: draining %d turn(s) and %d model call(s) in flight for up to %ss",
        len(_admitted),
        len(_streams),
        grace_seconds,
    )
    deadline = loop.time() + grace_seconds
    while (_streams or _admitted) and not _hurry.is_set() and loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    if not (_streams or _admitted):
        await asyncio.sleep(LAST_FRAMES_SECONDS)
        return
    _interrupting = True
    interrupts = [interrupt for interrupt in list(_streams.values()) if interrupt is not None]
    logger.warning("grace period over: interrupting %d answer(s) of %d call(s)", len(interrupts), len(_streams))
    for interrupt in interrupts:
        interrupt()
    deadline = loop.time() + INTERRUPT_SETTLE_SECONDS
    # A turn still being prepared is interrupted as its stream starts (`streaming`), then ends like the rest.
    while (_interruptible() or _admitted) and loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    if _interruptible() or _admitted:
        logger.error(
            "%d answer(s) of %d turn(s) did not settle; the abandoned-answer sweep will",
            _interruptible(),
            len(_admitted),
        )
    await asyncio.sleep(LAST_FRAMES_SECONDS)


def _interruptible() -> int:
    return sum(1 for interrupt in list(_streams.values()) if interrupt is not None)


def install() -> None:
    """Under daphne, take SIGTERM over once the reactor runs (it installs its own handler as it starts)."""
    if "twisted.internet.reactor" not in sys.modules:  # not daphne: importing it would install a reactor
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(_take_over_sigterm, reactor)


def _take_over_sigterm(reactor: Any) -> None:
    loop = asyncio.get_event_loop()

    def on_sigterm(signum: int, frame: Any) -> None:
        if _draining.is_set():
            _hurry.set()
            return
        _draining.set()  # at once: a turn being admitted on a worker thread sees it
        loop.call_soon_threadsafe(_start_drain, reactor)

    signal.signal(signal.SIGTERM, on_sigterm)


def _start_drain(reactor: Any) -> None:
    global _drain_task
    _drain_task = asyncio.ensure_future(drain(grace_seconds=settings.SHUTDOWN_GRACE_SECONDS))

    def stop(done: asyncio.Future) -> None:
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.error("draining failed; stopping anyway", exc_info=error)
        reactor.stop()  # daphne then cancels what is left, as it would have without the drain

    _drain_task.add_done_callback(stop)
