"""Where a chat turn's time goes: one mechanism for the span, the `timing` object and Server-Timing.

A transport begins a turn (`begin_turn`); the code on the turn's path wraps its stages in
`with stage("context"):`. A stage records its span (while tracing is on) and its own duration in
the turn: a stage nested in another (guardrails inside the /v1 planning) is subtracted from its
parent, so the stages add up to at most `total`. Outside a turn a stage only makes its span.
The turn object is shared by reference, so stages run in a worker thread (database_sync_to_async
copies the context) land in the same turn.

Reported, in milliseconds: caller (credentials, membership, permission), context (history and
prompt), guardrails (limits, quotas, budgets), upstream_ttft (the model server's own time to its
first chunk), first_token (turn start to the first token sent), persistence (storing the answer,
settling usage), total (turn start to now). Time before the turn begins (other middleware, the
websocket's frame parsing) is not in it.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

from chatpresets import admission
from chatpresets.observability import metrics, tracing

ORDER = ("caller", "context", "guardrails", "upstream_ttft", "first_token", "persistence", "total")


@dataclass
class Turn:
    transport: str  # websocket | http | v1
    started: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=dict)  # seconds of own time per stage
    first_token_at: float | None = None
    upstream_ttft: float | None = None  # seconds from the upstream request to its first chunk
    model_started_ns: int | None = None
    open_stages: list[list[Any]] = field(default_factory=list)  # [name, started, nested seconds]
    span: Any = None
    ended: bool = False
    tokens: tuple[Token | None, Any] = (None, None)

    def ttft(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    def added_ttft(self) -> float | None:
        """The service's own share of the time to first token."""
        ttft = self.ttft()
        return None if ttft is None or self.upstream_ttft is None else max(ttft - self.upstream_ttft, 0.0)


_current: ContextVar[Turn | None] = ContextVar("chat_turn", default=None)


def current_turn() -> Turn | None:
    return _current.get()


def begin_turn(transport: str) -> Turn:
    """Start timing (and tracing) a turn in this context; `leave` undoes it in a loop that goes on."""
    # Over HTTP the clock starts where the admission gate took the request: the wait for a worker
    # thread, the middleware and the caller's lookup are the service's time too.
    turn = Turn(transport, started=admission.arrived_at() or time.perf_counter())
    turn.span, otel_token = tracing.start_detached("chat.turn", transport=transport)
    turn.tokens = (_current.set(turn), otel_token)
    return turn


def resume(turn: Turn | None) -> None:
    """Carry on the turn where its stream is iterated (a streamed body may run in another context)."""
    if turn is not None:
        _current.set(turn)


def leave(turn: Turn) -> None:
    """Take the turn out of this context (the websocket's frame loop); tasks it started keep it."""
    context_token, otel_token = turn.tokens
    turn.tokens = (None, None)
    if context_token is not None:
        _current.reset(context_token)
    tracing.detach(otel_token)


def end_turn(turn: Turn | None, error: BaseException | None = None) -> None:
    """End the turn's span (once); a turn that ended in a limit's refusal counts as `refused`.

    Other outcomes are counted where the model call ends (conversations.metered): a refusal
    comes before there is a call.
    """
    if turn is None or turn.ended:
        return
    turn.ended = True
    if getattr(error, "limit_kind", None) is not None:
        metrics.CHAT_TURNS.labels(turn.transport, "refused").inc()
    if turn.span is not None:
        turn.span.end()


def stage(name: str) -> contextlib.AbstractContextManager[Any]:
    """Time `name` into the current turn and trace it as `chat.<name>`; a nested same-name stage counts once.

    Outside a turn with tracing off this is one shared null context, and in a turn one small
    object: stages run several times per turn, on every turn, so they cost no generator and,
    while tracing is off, no span.
    """
    turn = _current.get()
    if turn is None:
        return tracing.span(f"chat.{name}") if tracing.active() else tracing.NULL
    for open_stage in turn.open_stages:
        if open_stage[0] == name:
            return tracing.NULL
    return _Stage(turn, name)


class _Stage:
    """One stage of a turn: its span (while tracing is on) around its own time in `turn.stages`."""

    __slots__ = ("entry", "name", "span", "turn")

    def __init__(self, turn: Turn, name: str) -> None:
        self.turn, self.name = turn, name
        self.span = tracing.span(f"chat.{name}", parent=turn.span) if tracing.active() else None

    def __enter__(self) -> None:
        if self.span is not None:
            self.span.__enter__()
        self.entry = [self.name, time.perf_counter(), 0.0]  # [name, started, nested seconds]
        self.turn.open_stages.append(self.entry)
        if self.name == "model":
            self.turn.model_started_ns = time.time_ns()

    def __exit__(self, *exc_info: Any) -> bool | None:
        turn, entry = self.turn, self.entry
        turn.open_stages.remove(entry)
        elapsed = time.perf_counter() - entry[1]
        turn.stages[self.name] = turn.stages.get(self.name, 0.0) + elapsed - entry[2]
        if turn.open_stages:
            turn.open_stages[-1][2] += elapsed
        return self.span.__exit__(*exc_info) if self.span is not None else None


def first_token() -> None:
    """The turn's first token went out: its time, and the `chat.first_token` span inside the model call."""
    turn = _current.get()
    if turn is None or turn.first_token_at is not None:
        return
    turn.first_token_at = time.perf_counter()
    if (added := turn.added_ttft()) is not None:
        admission.observe(added, turn.started)
    if turn.model_started_ns is not None:
        tracing.past_span("chat.first_token", turn.model_started_ns)


def upstream_first_chunk(seconds: float) -> None:
    """The model server took `seconds` from our request to its first chunk (the answering attempt)."""
    turn = _current.get()
    if turn is not None and turn.upstream_ttft is None:
        turn.upstream_ttft = seconds


def summary(turn: Turn) -> dict[str, float]:
    """Milliseconds per stage, in ORDER, for what is known so far (the websocket `done` frame's `timing`)."""
    seconds = {name: turn.stages[name] for name in ("caller", "context", "guardrails") if name in turn.stages}
    if turn.upstream_ttft is not None:
        seconds["upstream_ttft"] = turn.upstream_ttft
    if (ttft := turn.ttft()) is not None:
        seconds["first_token"] = ttft
    if "persistence" in turn.stages:
        seconds["persistence"] = turn.stages["persistence"]
    seconds["total"] = time.perf_counter() - turn.started
    return {name: round(value * 1000, 1) for name, value in seconds.items()}


def server_timing(turn: Turn) -> str:
    """The Server-Timing header value for the turn so far."""
    return ", ".join(f"{name};dur={ms}" for name, ms in summary(turn).items())
