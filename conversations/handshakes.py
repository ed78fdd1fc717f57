"""What a conversation websocket's handshake may cost its web process, before its credential is looked up.

Each handshake costs the process its credential's lookup, its caller's checks and its group joins:
several database and Redis round trips, and a few milliseconds of the event loop. HandshakeGate, the
outermost websocket middleware, bounds them two ways.

- Per credential (an API key, or a session cookie, kept as a digest): WEBSOCKET_HANDSHAKE_RATE a second
  in bursts of WEBSOCKET_HANDSHAKE_BURST, so a client reconnecting in a loop is refused (`socket_rate`)
  without a lookup.
- In all: at most WEBSOCKET_HANDSHAKE_CONCURRENCY handshakes run at once; the rest wait their turn, in
  order, for up to WEBSOCKET_HANDSHAKE_WAIT_SECONDS, then are refused (`socket_busy`). When a process
  dies, every page it held reconnects within the same half second; without the bound the survivor ran
  a thousand handshakes at once, each finishing late and some failing on the database pool's timeout,
  and the sockets already open waited seconds for an answer (docs/performance.md, "A reconnect storm").

A refusal is an `overloaded` error frame with `retry_after`, then close 4503; no consumer is made.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie

from chatpresets import request_context
from chatpresets.admission import Overloaded
from chatpresets.bearer import bearer_secret
from conversations.payloads import error_frame
from conversations.socket_slots import refused
from conversations.token_bucket import TokenBucket
from tenancy.ws_auth import CLOSE_UNAVAILABLE, refuse_handshake

# Credentials whose handshake budget is remembered; past it, those whose budget has refilled are forgotten.
HANDSHAKE_CREDENTIALS = 10_000
# Handshakes that may wait for a turn at once; past it they are refused at once (each holds a connection).
MAX_WAITING = 5_000


class HandshakeBudget:
    """A token bucket of handshakes per credential, kept by the credential's digest, never the secret."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.buckets: dict[bytes, TokenBucket] = {}

    def spend(self, credential: str) -> None:
        """Spend one of the credential's handshakes, or raise Overloaded (`socket_rate`)."""
        key = digest(credential)
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is None:
                if len(self.buckets) >= HANDSHAKE_CREDENTIALS:
                    self.buckets = {known: kept for known, kept in self.buckets.items() if not kept.full()}
                rate, burst = settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST
                bucket = self.buckets[key] = TokenBucket(rate, burst, self.clock)
            if not bucket.take():
                return
        raise refused("socket_rate", settings.WEBSOCKET_HANDSHAKE_RATE)


class HandshakeQueue:
    """Handshakes running now, and those waiting for one of them to finish, first come first served.

    On one event loop: a finished handshake hands its place straight to the longest waiting one."""

    def __init__(self) -> None:
        self.running = 0
        self.waiting: collections.deque[asyncio.Future] = collections.deque()

    async def enter(self) -> None:
        """Take a place, waiting for one if need be; Overloaded (`socket_busy`) if none comes in time."""
        limit = settings.WEBSOCKET_HANDSHAKE_CONCURRENCY
        if self.running < limit and not self.waiting:
            self.running += 1
            return
        if len(self.waiting) >= MAX_WAITING:  # those that gave up count until a leave() passes them
            raise refused("socket_busy", limit)
        place = asyncio.get_running_loop().create_future()
        self.waiting.append(place)
        try:
            await asyncio.wait_for(place, settings.WEBSOCKET_HANDSHAKE_WAIT_SECONDS)
        except BaseException as error:  # waited too long, or its client left: a place handed over goes on
            if place.done() and not place.cancelled():
                self.leave()
            if isinstance(error, TimeoutError):
                raise refused("socket_busy", limit) from None
            raise

    def leave(self) -> None:
        while self.waiting:
            place = self.waiting.popleft()
            if not place.done():  # those that gave up (timed out, or their client left) stay in line until here
                place.set_result(None)
                return
        self.running -= 1

    def waiting_now(self) -> int:
        return sum(not place.done() for place in self.waiting)


def digest(credential: str) -> bytes:
    return hashlib.blake2b(credential.encode(), digest_size=16).digest()


def credential_of(scope: dict[str, Any]) -> str | None:
    """The handshake's API key, else its session cookie; None for neither (refused with 4401 inside)."""
    headers = dict(scope.get("headers", []))
    secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1"))
    if secret is not None:
        return secret
    cookies = parse_cookie(headers.get(b"cookie", b"").decode("latin-1"))
    return cookies.get(settings.SESSION_COOKIE_NAME)


class HandshakeGate:
    """ASGI middleware, outermost: a credential past its budget is refused before its lookup, and the
    handshake then waits its turn among the process's; its place is given back when the application under
    it accepts or closes the socket (or ends)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        line = queue  # the one this handshake waits in, even if forget_all() replaces it meanwhile
        try:
            credential = credential_of(scope)
            if credential is not None:
                budget.spend(credential)
            await line.enter()
        except Overloaded as error:
            request_context.begin_socket(scope)  # the frame's request id
            return await refuse_handshake(receive, send, CLOSE_UNAVAILABLE, error_frame(error))
        placed = True

        async def send_and_leave(message: dict[str, Any]) -> None:
            nonlocal placed
            if placed and message["type"] in ("websocket.accept", "websocket.close"):
                placed = False
                line.leave()
            await send(message)

        try:
            return await self.inner(scope, receive, send_and_leave)
        finally:
            if placed:
                line.leave()


budget = HandshakeBudget()
queue = HandshakeQueue()


def forget_all() -> None:
    """No handshake counted or running, as in a fresh process: for tests."""
    global budget, queue
    budget, queue = HandshakeBudget(), HandshakeQueue()
