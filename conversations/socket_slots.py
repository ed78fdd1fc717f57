"""The conversation websockets this process holds open, in all and for each caller, under their caps.

An open socket costs the process memory (about 57 KiB idle: docs/performance.md, "1,000 streaming
websockets in one web process") and a file descriptor, and every event sent to its groups. Without a
cap, one caller opening sockets in a loop could take a process's memory or descriptors from everyone
on it. WEBSOCKET_MAX_OPEN caps the process, WEBSOCKET_MAX_PER_CALLER one caller on it (a user's
session, or an API key). Each handshake also costs the process its caller's checks and its group
joins, and a client that reconnects in a loop would spend them as fast as it can: one caller may open
WEBSOCKET_HANDSHAKE_RATE sockets a second, in bursts of WEBSOCKET_HANDSHAKE_BURST. Past any of these,
the handshake is refused before it is authorised or joins a group: an `overloaded` error frame (reason
`socket_limit`, `socket_share` or `socket_rate`), then close 4503, which clients retry after a wait,
and nginx may send the retry to another process.

One event loop takes and gives back the slots, but a test may drive consumers from several: the
counts are under a lock.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable

from django.conf import settings

from chatpresets.admission import Overloaded
from chatpresets.observability import metrics
from conversations.token_bucket import TokenBucket

# Callers whose handshake budget is remembered; past it, those whose budget has refilled are forgotten.
HANDSHAKE_CALLERS = 10_000


class SocketSlots:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.open = 0
        self.by_caller: Counter[Hashable] = Counter()
        self.handshakes: dict[Hashable, TokenBucket] = {}

    def take(self, caller: Hashable | None) -> None:
        """Count a socket of `caller`'s as open, or raise Overloaded (counted by reason). A socket with no
        caller (its authorisation will refuse it) counts against the process's cap only."""
        with self.lock:
            if self.open >= settings.WEBSOCKET_MAX_OPEN:
                reason, value = "socket_limit", settings.WEBSOCKET_MAX_OPEN
            elif caller is not None and self.by_caller[caller] >= settings.WEBSOCKET_MAX_PER_CALLER:
                reason, value = "socket_share", settings.WEBSOCKET_MAX_PER_CALLER
            elif caller is not None and not self._handshake(caller):
                reason, value = "socket_rate", settings.WEBSOCKET_HANDSHAKE_RATE
            else:
                self.open += 1
                if caller is not None:
                    self.by_caller[caller] += 1
                return
        metrics.WEBSOCKET_REFUSALS.labels(reason).inc()
        raise Overloaded(reason=reason, limit_value=value)

    def _handshake(self, caller: Hashable) -> bool:
        """Spend one of `caller`'s handshakes if it has one (under the lock)."""
        bucket = self.handshakes.get(caller)
        if bucket is None:
            if len(self.handshakes) >= HANDSHAKE_CALLERS:
                self.handshakes = {known: kept for known, kept in self.handshakes.items() if not kept.full()}
            rate, burst = settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST
            bucket = self.handshakes[caller] = TokenBucket(rate, burst, self.clock)
        return not bucket.take()

    def give_back(self, caller: Hashable | None) -> None:
        with self.lock:
            self.open -= 1
            if caller is None:
                return
            self.by_caller[caller] -= 1
            if self.by_caller[caller] <= 0:
                del self.by_caller[caller]


slots = SocketSlots()


def forget_all() -> None:
    """Start again with no socket open, as a fresh process does: for tests."""
    global slots
    slots = SocketSlots()
