"""The gate every new turn passes first: refused at once while this process runs past its knee.

Admitting a turn (caller, conversation, context, limits, a stream slot) and relaying its answer
cost CPU. Past the process's knee that work queues: time to first token grows for every turn and
an open-loop arrival rate collapses throughput. The stream cap (tenancy/metering/stream_slots.py)
counts streams, not that queue; this gate watches the queue and refuses before any of the work:

- every TURN_ADMISSION_INTERVAL_MS the gate looks back: if even the quickest turn of the interval
  took over TURN_ADMISSION_TARGET_MS of the service's own time to its first token (time to first
  token less the model's; `observe`, from the turn's timing), the queue is standing. CoDel's test
  (RFC 8289): the minimum, not the mean, so one slow turn does not shut the gate, and a burst that
  drains does not either; nor an interval with fewer than MIN_SAMPLES first tokens. A turn still
  waiting for admission a whole interval counts as well;
- while it stands, new turns are refused (503 `overloaded`, reason `admission_wait`) but for one
  an interval, from a caller with no turn waiting and none admitted in the last RECENT_SECONDS: the
  queue drains, clients firing turns back off until the process keeps up again, and a quiet
  tenant's occasional turn still gets in beside a busy one's flood;
- one caller may hold STREAM_ORG_SHARE of TURN_ADMISSION_MAX_PENDING waiting turns (`admission_share`),
  and at TURN_ADMISSION_MAX_PENDING everyone is refused (`admission_queue`): the bound on how long
  an admitted turn can wait behind a burst.

All of it is a few dictionary operations under a lock: a refusal costs well under a millisecond.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterator
from typing import Any

from django.conf import settings
from django.http import parse_cookie
from django.urls import Resolver404, resolve
from rest_framework import status

from chatpresets import request_context
from chatpresets.errors import DomainError, error_body, openai_fields
from chatpresets.observability import metrics

# While the queue stands, a caller served this recently is held back: a person's next turn comes later.
RECENT_SECONDS = 0.5
# An interval with fewer first tokens than this is no queue: one slow turn at a quiet time must not shut the gate.
MIN_SAMPLES = 3


class Overloaded(DomainError):
    """Not now: the process has no room for another turn (a stream slot, the org's share, or the gate)."""

    code = "overloaded"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "The service is at capacity; retry shortly."

    def __init__(self, *, reason: str, limit_value: int) -> None:
        self.retry_after_seconds = settings.STREAM_RETRY_AFTER_SECONDS
        super().__init__(
            details={"reason": reason, "limit_value": limit_value, "retry_after": self.retry_after_seconds}
        )


def refused(reason: str, limit_value: int) -> Overloaded:
    """The refusal, counted in `chatpresets_stream_refusals_total{reason}`."""
    metrics.STREAM_REFUSALS.labels(reason).inc()
    return Overloaded(reason=reason, limit_value=limit_value)


def caller_share() -> int:
    """The pending turns one caller may have: the same share of the queue an organisation has of the
    stream slots, so a flood from one credential leaves room for everyone else's."""
    return max(1, math.floor(settings.TURN_ADMISSION_MAX_PENDING * settings.STREAM_ORG_SHARE))


class Gate:
    """The pending turns of one process and whether they form a standing queue."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.pending: dict[object, tuple[Hashable, float]] = {}  # token → (caller, arrival); oldest first
        self.by_caller: Counter[Hashable] = Counter()
        self.served: dict[Hashable, float] = {}  # caller → when a turn of theirs was last admitted
        self.admitted_while_standing = -math.inf
        self.window_started = clock()
        self.window_min = math.inf
        self.window_samples = 0
        self.standing = False

    def enter(self, caller: Hashable) -> object:
        """A token for a turn now pending, or Overloaded."""
        with self.lock:
            now = self.clock()
            self._look_back(now)
            share = caller_share()
            if len(self.pending) >= settings.TURN_ADMISSION_MAX_PENDING:
                reason, value = "admission_queue", settings.TURN_ADMISSION_MAX_PENDING
            elif self.by_caller[caller] >= share:
                reason, value = "admission_share", share
            elif self.standing and not self._admits_while_standing(caller, now):
                reason, value = "admission_wait", settings.TURN_ADMISSION_TARGET_MS
            else:
                token = object()
                self.pending[token] = (caller, now)
                self.by_caller[caller] += 1
                return token
        raise refused(reason, value)

    def _admits_while_standing(self, caller: Hashable, now: float) -> bool:
        """One turn an interval, from a caller with none waiting and none admitted lately: the queue
        drains, yet a quiet tenant is not shut out by a busy one (under the lock)."""
        if self.by_caller[caller] or now - self.served.get(caller, -math.inf) < RECENT_SECONDS:
            return False
        if now - self.admitted_while_standing < settings.TURN_ADMISSION_INTERVAL_MS / 1000:
            return False
        self.admitted_while_standing = now
        return True

    def leave(self, token: object, *, admitted: bool) -> None:
        """The turn is no longer waiting (admitted, or refused further on, or answering). Idempotent."""
        with self.lock:
            entry = self.pending.pop(token, None)
            if entry is None:
                return
            caller = entry[0]
            self.by_caller[caller] -= 1
            if self.by_caller[caller] <= 0:
                del self.by_caller[caller]
            now = self.clock()
            if admitted:
                self.served[caller] = now
            self._look_back(now)

    def observe(self, seconds: float) -> None:
        """A turn's own time to its first token (the model's taken out): a sample of the queue."""
        with self.lock:
            self.window_min = min(self.window_min, seconds)
            self.window_samples += 1
            self._look_back(self.clock())

    def _look_back(self, now: float) -> None:
        interval = settings.TURN_ADMISSION_INTERVAL_MS / 1000
        if now - self.window_started < interval:
            return
        quickest = self.window_min
        # Samples from before a quiet spell say nothing of now; nor do too few to make a queue.
        if now - self.window_started >= 2 * interval or self.window_samples < MIN_SAMPLES:
            quickest = math.inf
        if quickest == math.inf and self.pending:  # none admitted in a whole interval: a stall
            oldest = now - next(iter(self.pending.values()))[1]
            quickest = oldest if oldest >= interval else math.inf
        self.standing = quickest != math.inf and quickest > settings.TURN_ADMISSION_TARGET_MS / 1000
        self.window_started, self.window_min, self.window_samples = now, math.inf, 0
        self.served = {caller: at for caller, at in self.served.items() if now - at < RECENT_SECONDS}

    def waiting(self) -> int:
        with self.lock:
            return len(self.pending)


_gate = Gate()
_current: contextvars.ContextVar[object | None] = contextvars.ContextVar("admission_token", default=None)


@contextlib.contextmanager
def pending(caller: Hashable) -> Iterator[None]:
    """Hold the turn as pending for the block (Overloaded if the gate is shut to `caller`).

    The block ends it as failed, unless `admitted()` was called inside it first: the context variable
    carries the token into the worker thread where the stream slot is taken.
    """
    token = _gate.enter(caller)
    reset = _current.set(token)
    try:
        yield
    finally:
        _current.reset(reset)
        _gate.leave(token, admitted=False)


def observe(seconds: float) -> None:
    """A turn's added time to first token, from its timing: what the gate's test looks at."""
    _gate.observe(seconds)


def admitted() -> None:
    """The current turn holds its stream slot: it is no longer waiting."""
    token = _current.get()
    if token is not None:
        _gate.leave(token, admitted=True)


def forget_all() -> None:
    """Start again from an idle gate, as a fresh process does: for tests."""
    global _gate
    _gate = Gate()


def starts_turns(view: Any) -> Any:
    """Mark a view whose POST starts a turn: the gate in front of Django holds it as pending."""
    view.starts_turn = True
    return view


def _starts_turn(scope: dict[str, Any]) -> bool:
    if scope["method"] != "POST":
        return False
    try:
        return getattr(resolve(scope["path"].removeprefix(scope.get("root_path", ""))).func, "starts_turn", False)
    except Resolver404:
        return False


def _caller(scope: dict[str, Any]) -> Hashable:
    """Who asks, as the request presents it, without a database round: its credential, its session
    cookie, or else its address. Good enough to tell a flood's caller from a quiet one."""
    headers = dict(scope["headers"])
    if authorization := headers.get(b"authorization"):
        return ("authorization", hash(authorization))
    if (cookie := headers.get(b"cookie")) and (
        session := parse_cookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
    ):
        return ("session", hash(session))
    return ("address", (scope.get("client") or ("",))[0])


class TurnGate:
    """In front of Django: a turn the gate refuses gets its 503 before a request object, a middleware,
    a worker thread or a database connection is spent on it; an admitted one is pending until it
    holds a stream slot (`admitted`, in guardrails) or its request ends."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _starts_turn(scope):
            await self.app(scope, receive, send)
            return
        try:
            token = _gate.enter(_caller(scope))
        except Overloaded as refusal:
            await _refuse(scope, send, refusal)
            return
        reset = _current.set(token)

        async def send_leaving(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":  # answering: no longer waiting, whatever the path
                _gate.leave(token, admitted=False)
            await send(message)

        try:
            await self.app(scope, receive, send_leaving)
        finally:
            _current.reset(reset)
            _gate.leave(token, admitted=False)


async def _refuse(scope: dict[str, Any], send: Any, refusal: Overloaded) -> None:
    body = error_body(refusal.code, refusal.message, refusal.details)
    if scope["path"].startswith("/v1/"):
        body["error"].update(openai_fields(refusal))
    content = json.dumps(body).encode()
    request_id = request_context.new_request_id(dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1"))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refusal.headers().items()),
        (b"x-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": refusal.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})
