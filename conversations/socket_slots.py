"""The conversation websockets this process holds open, in all and for each caller, under their caps,
and how fast each credential may open them.

An open socket costs the process memory (about 57 KiB idle: docs/performance.md, "1,000 streaming
websockets in one web process") and a file descriptor, and every event sent to its groups. Without a
cap, one caller opening sockets in a loop could take a process's memory or descriptors from everyone
on it. WEBSOCKET_MAX_OPEN caps the process, WEBSOCKET_MAX_PER_CALLER one caller on it (a user, through
their sessions, or an API key): SocketGate, the websocket middleware just inside the authentication.

Each handshake also costs the process its credential's lookup, its caller's checks and its group joins,
and a client that reconnects in a loop would spend them as fast as it can: one credential (an API key,
or a session cookie) may open WEBSOCKET_HANDSHAKE_RATE sockets a second, in bursts of
WEBSOCKET_HANDSHAKE_BURST. HandshakeGate, the outermost websocket middleware, counts them before the
credential is looked up.

Past any of these the handshake is refused before any consumer exists (a consumer subscribes to the
channel layer before its `connect` runs): an `overloaded` error frame (reason `socket_limit`,
`socket_share` or `socket_rate`), then close 4503, which clients retry after a wait, and nginx may
send the retry to another process.

One event loop takes and gives back the slots, but a test may drive consumers from several: the
counts are under a lock.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie

from chatpresets import request_context
from chatpresets.admission import Overloaded
from chatpresets.bearer import bearer_secret
from chatpresets.observability import metrics
from conversations.payloads import error_frame
from conversations.token_bucket import TokenBucket
from tenancy.ws_auth import CLOSE_UNAUTHENTICATED, CLOSE_UNAVAILABLE, refuse_handshake

# Credentials whose handshake budget is remembered; past it, those whose budget has refilled are forgotten.
HANDSHAKE_CALLERS = 10_000


def refused(reason: str, limit_value: Any) -> Overloaded:
    metrics.WEBSOCKET_REFUSALS.labels(reason).inc()
    return Overloaded(reason=reason, limit_value=limit_value)


class SocketSlots:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.by_caller: Counter[Hashable] = Counter()

    def take(self, caller: Hashable) -> Slot:
        """Count a socket of `caller`'s as open, or raise Overloaded (counted by reason)."""
        with self.lock:
            if self.open >= settings.WEBSOCKET_MAX_OPEN:
                reason, value = "socket_limit", settings.WEBSOCKET_MAX_OPEN
            elif self.by_caller[caller] >= settings.WEBSOCKET_MAX_PER_CALLER:
                reason, value = "socket_share", settings.WEBSOCKET_MAX_PER_CALLER
            else:
                self.open += 1
                self.by_caller[caller] += 1
                return Slot(self, caller)
        raise refused(reason, value)

    def give_back(self, caller: Hashable) -> None:
        with self.lock:
            self.open -= 1
            self.by_caller[caller] -= 1
            if self.by_caller[caller] <= 0:
                del self.by_caller[caller]


class Slot:
    """One socket's place in the counts, given back once: when its handshake is refused, or when it closes."""

    def __init__(self, slots: SocketSlots, caller: Hashable) -> None:
        self.slots, self.caller = slots, caller
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.slots.give_back(self.caller)


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
                if len(self.buckets) >= HANDSHAKE_CALLERS:
                    self.buckets = {known: kept for known, kept in self.buckets.items() if not kept.full()}
                rate, burst = settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST
                bucket = self.buckets[key] = TokenBucket(rate, burst, self.clock)
            if not bucket.take():
                return
        raise refused("socket_rate", settings.WEBSOCKET_HANDSHAKE_RATE)


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


def caller_of(scope: dict[str, Any]) -> tuple[Any, Any] | None:
    """The authenticated socket's caller, (user, API key or None); None when no credential held."""
    user_id, api_key = scope["user"].pk, scope.get("api_key")
    return None if user_id is None else (user_id, api_key.pk if api_key else None)


class HandshakeGate:
    """ASGI middleware, outermost: a credential past its handshake budget is refused before its lookup."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        credential = credential_of(scope)
        if credential is not None:
            try:
                handshakes.spend(credential)
            except Overloaded as error:
                request_context.begin_socket(scope)  # the frame's request id
                return await refuse_handshake(receive, send, CLOSE_UNAVAILABLE, error_frame(error))
        return await self.inner(scope, receive, send)


class SocketGate:
    """ASGI middleware, inside the authentication: the socket's slot is `scope["socket_slot"]` for as long as
    the application under it runs; past a cap the handshake is refused without it, as is a socket whose
    credential held no caller."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        caller = caller_of(scope)
        if caller is None:
            return await refuse_handshake(receive, send, CLOSE_UNAUTHENTICATED)
        try:
            slot = slots.take(caller)
        except Overloaded as error:
            return await refuse_handshake(receive, send, CLOSE_UNAVAILABLE, error_frame(error))
        try:
            return await self.inner({**scope, "socket_slot": slot}, receive, send)
        finally:
            slot.give_back()


slots = SocketSlots()
handshakes = HandshakeBudget()


def forget_all() -> None:
    """Start again with no socket open and no handshake counted, as a fresh process does: for tests."""
    global slots, handshakes
    slots, handshakes = SocketSlots(), HandshakeBudget()
