"""The conversation websockets this process holds open, in all and for each caller, under their caps.

An open socket costs the process memory (about 57 KiB idle: docs/performance.md, "1,000 streaming
websockets in one web process") and a file descriptor, and every event sent to its groups. Without a
cap, one caller opening sockets in a loop could take a process's memory or descriptors from everyone
on it. WEBSOCKET_MAX_OPEN caps the process, WEBSOCKET_MAX_PER_CALLER one caller on it (a user, through
their sessions, or an API key). SocketGate, the websocket middleware just inside the authentication,
takes a socket's slot or refuses the handshake before any consumer exists (a consumer subscribes to the
channel layer before its `connect` runs): an `overloaded` error frame (reason `socket_limit` or
`socket_share`), then close 4503, which clients retry after a wait, and nginx may send the retry to
another process. What a handshake may cost before that is conversations/handshakes.py's.

One event loop takes and gives back the slots, but a test may drive consumers from several: the
counts are under a lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from typing import Any

from django.conf import settings

from chatpresets.admission import Overloaded
from chatpresets.observability import metrics
from conversations.payloads import error_frame
from tenancy.ws_auth import CLOSE_UNAUTHENTICATED, CLOSE_UNAVAILABLE, refuse_handshake


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


def caller_of(scope: dict[str, Any]) -> tuple[Any, Any] | None:
    """The authenticated socket's caller, (user, API key or None); None when no credential held."""
    user_id, api_key = scope["user"].pk, scope.get("api_key")
    return None if user_id is None else (user_id, api_key.pk if api_key else None)


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


def forget_all() -> None:
    """Start again with no socket open, as a fresh process does: for tests."""
    global slots
    slots = SocketSlots()
