"""The gate every new turn passes first: refused at once while this process runs past its knee.

Admitting a turn (caller, conversation, context, limits, a stream slot) and relaying its answer
cost CPU. Past the process's knee that work queues: time to first token grows for every turn and
an open-loop arrival rate collapses throughput. The stream cap (tenancy/metering/stream_slots.py)
is the operator's fixed ceiling; under it this gate learns how many turns the process can run at
once and refuses the rest before any of their work is done, an adaptive concurrency limit (AIMD,
as TCP's window, Netflix's concurrency-limits and Envoy's adaptive concurrency filter keep one):

- a turn is in flight from the gate to the end of its stream: waiting for admission (`pending`)
  until it holds a stream slot (`admitted`), then running until the slot is given back (`finished`);
- past `limit` turns in flight a new one is refused (503 `overloaded`, reason `admission_limit`);
- every TURN_ADMISSION_INTERVAL_MS the gate looks back at the service's own time to first token
  of the turns that got their first token (the model's time taken out; `observe`, from the turn's
  timing), counting only turns that began after the limit last moved: one move per round trip, as
  TCP grows its window, or it would answer again to load it has already changed. While the turns
  in flight reached half the limit or more, if their 90th percentile took longer than
  the target, the limit steps down a turn (by half past twice the target; to `target / tail` of
  itself while their median took longer than the target too, a queue); if turns met the limit
  (or a caller its share) and stayed quick, it grows by one turn or a tenth. A level
  found slow above the last quick one is the knee: for KNEE_MEMORY_SECONDS the limit grows back to
  just under it, not into it, so it holds still instead of riding a sawtooth across the knee. The
  percentile, not the median: on a busy process a turn's tail runs about three times its median,
  and the tail is what a client sees. An interval lasts until it has MIN_SAMPLES first tokens, or
  until a turn has waited for admission past the target: each such turn counts as slow as its wait
  so far, so a surge moves the limit while its turns queue, not once they answer;
- the target is TURN_ADMISSION_TARGET_MS, or TURN_ADMISSION_TARGET_FACTOR times the 90th percentile of
  the process's quiet turns (those that got their first token with no other turn in flight) when that
  is lower: a client's tail bound is a multiple of what it sees from an idle service, and a fixed
  target that suits a slow machine lets a fast one's tail run to several times its idle time. A fresh
  process's first COLD_TURNS turns are not quiet but cold, and so is a caller's first turn in the process
  (its key and membership read from the database, its daily use written): a burst of new callers at a
  quiet moment would otherwise hold the target at the ceiling for as long as the process stays busy;
- one caller may have STREAM_ORG_SHARE of the limit in flight and of TURN_ADMISSION_MAX_PENDING
  waiting (`admission_share`): a flood from one credential leaves the rest of the process to
  everyone else. At TURN_ADMISSION_MAX_PENDING waiting everyone is refused (`admission_queue`).

All of it is a few dictionary operations under a lock: a refusal costs well under a millisecond.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import parse_cookie
from django.urls import Resolver404, resolve
from rest_framework import status

from chatpresets import request_context
from chatpresets.errors import DomainError, error_body, openai_fields
from chatpresets.observability import metrics

# The limit never falls below this: one caller's share of it is still a turn, and someone else's is another.
MIN_LIMIT = 2
# The gate decides on no fewer first tokens than this (an interval goes on until it has them), and
# on none older than STALE_INTERVALS intervals.
MIN_SAMPLES = 5
PERCENTILE = 0.9  # of the interval's first tokens, held under the target
STALE_INTERVALS = 10
GROWTH = 0.1  # … and it grows by this share of itself an interval (one turn at least)
KNEE_MEMORY_SECONDS = 10.0  # how long a level found slow bounds the limit's growth
# The quiet time to first token: of the last QUIET_SAMPLES turns that got their first token with no other
# turn in flight in the process; the target follows it once it has QUIET_MIN_SAMPLES.
QUIET_SAMPLES = 50
QUIET_MIN_SAMPLES = 10
# A fresh process's first turns open its connections and fill its caches (two to five times as slow as
# the next ones, in the topology bench): cold, not quiet.
COLD_TURNS = 3
SEEN_CALLERS = 10_000  # callers remembered as warm; past it the memory starts again
HEADROOM = 2  # the limit stays within this many times the most turns in flight of the last interval


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


def share_of(total: float) -> int:
    """What one caller may hold of `total`: the share an organisation has of the stream slots."""
    return max(1, math.floor(total * settings.STREAM_ORG_SHARE))


class Gate:
    """The turns in flight in one process, and how many it may have."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.pending: dict[object, tuple[Hashable, float]] = {}  # token → (caller, arrival); oldest first
        self.running: dict[object, Hashable] = {}  # token → caller
        self.pending_by_caller: Counter[Hashable] = Counter()
        self.in_flight_by_caller: Counter[Hashable] = Counter()
        # A fresh process trusts the operator's cap until its own turns say otherwise.
        self.limit = settings.MAX_CONCURRENT_STREAMS
        self.window_started = self.moved_at = clock()
        self.window: list[float] = []
        self.limit_met = False
        self.peak = 0  # the most turns in flight this interval
        self.quick = 0  # the last level whose turns met the limit quickly
        self.knee: int | None = None  # a level above it found slow, and when
        self.knee_at = 0.0
        self.quiet: deque[float] = deque(maxlen=QUIET_SAMPLES)
        self.quiet_tail: float | None = None  # their 90th percentile, once there are enough of them
        self.first_tokens = 0
        self.seen: set[Hashable] = set()  # callers that have had a turn admitted here
        self.cold: set[object] = set()  # tokens of callers' first turns here

    def enter(self, caller: Hashable) -> object:
        """A token for a turn now pending, or Overloaded."""
        with self.lock:
            now = self.clock()
            self._look_back(now)
            limit, in_flight = self._allowed(), self._in_flight()
            self.peak = max(self.peak, in_flight + 1)
            if len(self.pending) >= settings.TURN_ADMISSION_MAX_PENDING:
                reason, value = "admission_queue", settings.TURN_ADMISSION_MAX_PENDING
            elif in_flight >= limit:
                self.limit_met = True
                reason, value = "admission_limit", limit
            elif (share := self._share_used_up(caller, limit)) is not None:
                # Demand past the caller's share of the limit: if turns stay quick, the limit grows,
                # or one client's batch would be held at half of an idle process's floor for good.
                self.limit_met = True
                reason, value = "admission_share", share
            else:
                token = object()
                self.pending[token] = (caller, now)
                self.pending_by_caller[caller] += 1
                self.in_flight_by_caller[caller] += 1
                if caller not in self.seen:
                    if len(self.seen) >= SEEN_CALLERS:
                        self.seen.clear()
                    self.seen.add(caller)
                    self.cold.add(token)
                return token
        raise refused(reason, value)

    def _share_used_up(self, caller: Hashable, limit: int) -> int | None:
        """The share `caller` has used up, of the waiting turns or of those in flight, if either (under the lock)."""
        for held, total in (
            (self.pending_by_caller[caller], settings.TURN_ADMISSION_MAX_PENDING),
            (self.in_flight_by_caller[caller], limit),
        ):
            if held >= (share := share_of(total)):
                return share
        return None

    def leave(self, token: object, *, admitted: bool) -> None:
        """The turn is no longer waiting: admitted (running until `finish`), or refused further on, or
        answering without a stream. Idempotent, and a running turn stays running."""
        with self.lock:
            entry = self.pending.pop(token, None)
            if entry is None:
                return
            caller = entry[0]
            _drop(self.pending_by_caller, caller)
            if admitted:
                self.running[token] = caller
            else:
                _drop(self.in_flight_by_caller, caller)
                self.cold.discard(token)
            self._look_back(self.clock())

    def finish(self, token: object) -> None:
        """The running turn's stream has ended, whichever way. Idempotent."""
        with self.lock:
            caller = self.running.pop(token, None)
            if caller is not None:
                _drop(self.in_flight_by_caller, caller)
                self.cold.discard(token)

    def observe(self, seconds: float, started: float | None = None, token: object | None = None) -> None:
        """A turn's own time to its first token (the model's taken out): a sample of the queue, unless
        the turn began (`started`, on the gate's clock) before the limit last moved. `token`, the turn's
        own when known, tells a caller's first turn here (cold) from a quiet one."""
        with self.lock:
            self._look_back(self.clock())
            self.first_tokens += 1
            cold = token in self.cold
            self.cold.discard(token)
            if self._in_flight() <= 1 and self.first_tokens > COLD_TURNS and not cold:
                self.quiet.append(seconds)
                # Kept here, once per quiet turn, not sorted again at every look-back.
                if len(self.quiet) >= QUIET_MIN_SAMPLES:
                    (self.quiet_tail,) = _percentiles(self.quiet, PERCENTILE)
            if started is None or started >= self.moved_at:
                self.window.append(seconds)

    def _look_back(self, now: float) -> None:
        interval = settings.TURN_ADMISSION_INTERVAL_MS / 1000
        elapsed = now - self.window_started
        if elapsed < interval:
            return
        target = self.target()
        # A turn still waiting for admission past the target will be at least that slow: counted now.
        stalled = [wait for _, arrival in self.pending.values() if (wait := now - arrival) > target]
        fresh = elapsed < STALE_INTERVALS * interval  # samples from before a quiet spell say nothing of now
        if fresh and not stalled and len(self.window) < MIN_SAMPLES:
            return  # too few first tokens yet to tell a queue from one slow turn: the interval goes on
        samples = [*(self.window if fresh else []), *stalled]
        in_flight = max(self.peak, self._in_flight())
        # Slow turns far under the limit are slow for another reason (a long context, the database):
        # fewer turns at once would not make them quicker, so only a limit the turns press on moves.
        if samples and (self.limit_met or 2 * in_flight >= self.limit):
            before = self.limit
            self._move(now, *_percentiles(samples, PERCENTILE, 0.5), target)
            if self.limit != before:
                self.moved_at = now
                change = "grow" if self.limit > before else "shrink_stalled" if stalled else "shrink"
                metrics.TURN_ADMISSION_CHANGES.labels(change).inc()
        # Never far above what the process has run lately: a step up in load meets a limit it earned.
        self.limit = min(self.limit, max(settings.TURN_ADMISSION_IDLE_LIMIT, HEADROOM * in_flight))
        metrics.TURN_ADMISSION_LIMIT.labels().set(self.limit)
        metrics.TURN_ADMISSION_TARGET.labels().set(target)
        self.window_started, self.window, self.limit_met, self.peak = now, [], False, 0

    def _move(self, now: float, tail: float, median: float, target: float) -> None:
        """Step the limit by what the interval's turns took (under the lock)."""
        if self.knee is not None and now - self.knee_at > KNEE_MEMORY_SECONDS:
            self.knee = None
        level = self.limit
        if self._in_flight() > level:
            return  # a shrink still draining: the turns over the limit run on, so nothing is learnt yet
        if tail > target:
            self.limit = max(MIN_LIMIT, _shrunk(level, tail, median, target))
            # Slow at a level that was quick lately is noise or a busier machine: a step down, not a knee.
            if level > self.quick and (self.knee is None or level < self.knee):
                self.knee, self.knee_at = level, now
            self.quick = min(self.quick, self.limit)
        elif self.limit_met:
            self.quick = level
            grown = level + max(1, math.floor(GROWTH * level))
            if self.knee is not None:
                grown = min(grown, self.knee - 1)
            self.limit = min(settings.MAX_CONCURRENT_STREAMS, max(level, grown))

    def target(self) -> float:
        """The seconds the interval's 90th percentile is held under: the operator's target, or less on a
        process whose turns alone are quick (under the lock, or read alone: floats)."""
        ceiling, factor = settings.TURN_ADMISSION_TARGET_MS / 1000, settings.TURN_ADMISSION_TARGET_FACTOR
        if not factor or self.quiet_tail is None:
            return ceiling
        return min(ceiling, factor * self.quiet_tail)

    def current_limit(self) -> int:
        """The turns in flight the gate allows now (after looking back at an interval just over)."""
        with self.lock:
            self._look_back(self.clock())
            return self._allowed()

    def _allowed(self) -> int:
        return max(MIN_LIMIT, self.limit)

    def _in_flight(self) -> int:
        return len(self.pending) + len(self.running)

    def in_flight(self) -> tuple[int, int]:
        """(pending, running) turns now."""
        with self.lock:
            return len(self.pending), len(self.running)


def _shrunk(level: int, tail: float, median: float, target: float) -> int:
    """The limit after an interval whose tail took longer than the target: by half past twice the target;
    in proportion, to `level * target / tail` (as Netflix's gradient limit steps), when most of the
    interval's turns were slow too, a queue; a turn down when only its tail was, noise or a busier moment.
    A turn per interval took four processes 3 to 8 s to come down from their idle limit to a surge's knee
    on two cores, their turns queuing all that while; a cut in proportion to every slow tail (often one
    turn's bad luck of five) left one process refusing half of its 80% step (docs/performance.md,
    2026-12-07 evening)."""
    if tail > 2 * target:
        return level // 2
    if median > target:
        return math.floor(level * target / tail)  # under `level`, as tail > target
    return level - 1


def _percentiles(samples: Iterable[float], *shares: float) -> list[float]:
    """Nearest-rank percentiles, sorted once: of five first tokens the 90th is the slowest, of ten the 2nd slowest."""
    ranked = sorted(samples)
    return [ranked[math.ceil(share * len(ranked)) - 1] for share in shares]


def _drop(counts: Counter[Hashable], caller: Hashable) -> None:
    counts[caller] -= 1
    if counts[caller] <= 0:
        del counts[caller]


_gate = Gate()
_current: contextvars.ContextVar[object | None] = contextvars.ContextVar("admission_token", default=None)
# When the gate took the request (time.perf_counter): its turn's clock starts there, not in the view.
_arrived: contextvars.ContextVar[float | None] = contextvars.ContextVar("admission_arrived", default=None)


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


def observe(seconds: float, started: float | None = None) -> None:
    """A turn's added time to first token, from its timing (`started` on time.perf_counter): what the
    gate's limit follows."""
    _gate.observe(seconds, started, _current.get())


def admitted() -> object | None:
    """The current turn holds its stream slot: no longer waiting, running until `finished` with the
    token this returns (None outside the gate: a test's direct call, a background task)."""
    token = _current.get()
    if token is None:
        return None
    _gate.leave(token, admitted=True)
    return token


def arrived_at() -> float | None:
    """When the gate took this request (time.perf_counter), for a turn that came through it over HTTP."""
    return _arrived.get()


def finished(token: object | None) -> None:
    """The stream of the turn `admitted` returned `token` for has ended."""
    if token is not None:
        _gate.finish(token)


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
        _arrived.set(time.perf_counter())  # this task's own context: it ends with the request
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
