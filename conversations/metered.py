"""One metered model call: admit → call → finish, for every caller.

A chat turn (services.prepare_turn → turns.stream_turn → services.finish_turn), /v1/chat/completions
and the background summaries and titles all pass here. `admit` is the one place a model call meets
the guardrails (a stream slot of this process for a call someone waits on, rate limits, token
quotas, cost budgets); `stream` and `complete` run it through the
gateway's retries and fallbacks; `finish` settles the holds to the real tokens and cost and writes
the call's one UsageRecord. Every other ending (an error, a client that left, a crash between admit
and finish) must `release` the holds, a no-op once finished; holds a dead process kept are freed
from the answer's stored `holds` (`admission_from`) or, failing that, expire.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chatpresets import request_context, shutdown
from chatpresets.llm import gateway
from chatpresets.llm.catalogue import ModelSpec, get_model
from chatpresets.observability import metrics, timing
from conversations.models import UsageRecord
from tenancy.metering import guardrails
from tenancy.models import Membership

logger = logging.getLogger(__name__)
# How a stored status reads as a turn outcome (chatpresets_chat_turns_total{outcome}).
OUTCOMES = {"complete": "complete", "cancelled": "stopped"}


@dataclass
class MeteredCall:
    """What one model call is metered as: who pays, for what, with which prompt, and the hold it took."""

    kind: str  # a UsageKind
    org_id: Any
    user_id: Any  # None for a background call: it counts against its conversation's owner
    spec: ModelSpec
    prompt_tokens: int
    max_tokens: int
    messages: list[dict[str, str]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    fallbacks: list[str] | None = None  # None: the model's own chain
    api_key_id: Any = None
    preset_id: Any = None
    preset_version: int | None = None
    conversation_id: Any = None
    message_id: Any = None
    admission: guardrails.Admission | None = None
    plan: str = ""  # the organisation's plan, a metrics label
    transport: str | None = None  # the turn's transport; None for a background call
    ended: bool = False  # finished (counted) or released


@dataclass
class Finished:
    record: UsageRecord
    warnings: list[dict[str, Any]]  # soft-limit warnings the transport adds to its answer


def admit(
    *,
    membership: Membership,
    kind: str,
    spec: ModelSpec,
    prompt_tokens: int,
    max_tokens: int,
    messages: list[dict[str, str]] | None = None,
    params: dict[str, Any] | None = None,
    fallbacks: list[str] | None = None,
    api_key_id: Any = None,
    preset_id: Any = None,
    preset_version: int | None = None,
    preset_policy: dict[str, Any] | None = None,
    conversation_id: Any = None,
    background: bool = False,
) -> MeteredCall:
    """Refuse (429/413/503) or hold the call's estimate: prompt plus `max_tokens`, priced by `spec`.

    A turn is refused with 503 `shutting_down` while its process drains (chatpresets/shutdown.py).

    An admitted call must end in `finish` or `release`. A background call (nobody asked for it)
    spends tokens and cost but not the requests per minute its owner has for their own sends.
    """
    if not background:
        shutdown.refuse_if_draining()  # a turn this process could not finish
    turn = None if background else timing.current_turn()
    with timing.stage("guardrails"):
        admission = guardrails.admit(
            membership=membership,
            api_key_id=api_key_id,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            preset_id=preset_id,
            preset_policy=preset_policy,
            estimated_cost=spec.cost(prompt_tokens, max_tokens),
            counts_request=not background,
        )
    request_context.note(conversation_id=conversation_id)
    return MeteredCall(
        kind=kind,
        org_id=membership.org_id,
        user_id=None if background else membership.user_id,
        spec=spec,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        messages=messages or [],
        params=params or {},
        fallbacks=fallbacks,
        api_key_id=api_key_id,
        preset_id=preset_id,
        preset_version=preset_version,
        conversation_id=conversation_id,
        admission=admission,
        plan=membership.org.plan,
        transport=turn.transport if turn is not None else None,
    )


@contextlib.contextmanager
def _model_call() -> Iterator[None]:
    """An active stream (gauge) and the turn's `model` stage, for as long as the model call runs."""
    streams = metrics.ACTIVE_STREAMS.labels()
    streams.inc()
    try:
        with timing.stage("model"), shutdown.streaming(None):  # a draining process waits for it
            yield
    finally:
        streams.dec()


async def stream(call: MeteredCall, on_delta: gateway.Delta) -> gateway.StreamResult:
    """The answer, streamed to `on_delta`, from the call's model or the first fallback that answers."""

    async def timed(text: str) -> None:
        await on_delta(text)
        timing.first_token()  # sent: the transport's callback has passed it on

    with _model_call():
        return await gateway.stream_chat(**_request(call), on_delta=timed)


async def complete(call: MeteredCall) -> gateway.StreamResult:
    """The whole answer at once, through the same retries and fallbacks as `stream`."""
    with _model_call():
        return await gateway.complete(**_request(call))


def _request(call: MeteredCall) -> dict[str, Any]:
    """What the gateway is asked, the same for a streamed and a whole answer."""
    return {
        "model": call.spec.name,
        "messages": call.messages,
        "params": call.params,
        "max_tokens": call.max_tokens,
        "fallbacks": call.fallbacks,
    }


def finish(
    call: MeteredCall,
    *,
    status: str,
    completion_tokens: int,
    result: gateway.StreamResult | None = None,
    model: str = "",
    attempts: list[dict[str, Any]] | None = None,
    prompt_tokens: int | None = None,
    cached_tokens: int | None = None,
    priced_as: ModelSpec | None = None,
    charged: bool = True,
) -> Finished:
    """Settle the holds to what the call used and write its one UsageRecord; returns soft-limit warnings.

    Defaults come from `result`: the model that answered (which also prices the call, unless
    `priced_as` says otherwise), its cached tokens, times and attempts. An uncharged call (one that
    produced nothing) is recorded but gives its holds back. If pricing fails, the holds are released.
    """
    call.ended = True  # whatever happens next, this call is not counted as released unfinished
    model = model or (result.model if result else call.spec.name)
    prompt = call.prompt_tokens if prompt_tokens is None else prompt_tokens
    cached = cached_tokens if cached_tokens is not None else result.cached_tokens if result else 0
    try:
        cost = (priced_as or get_model(model)).cost(prompt, completion_tokens, cached)
        used_tokens, used_cost = (prompt + completion_tokens, cost) if charged else (0, Decimal(0))
        warnings = guardrails.settle(call.admission, used_tokens=used_tokens, used_cost=used_cost)
    finally:
        release(call)  # a no-op once settled
    record = UsageRecord.objects.create(
        org_id=call.org_id,
        kind=call.kind,
        user_id=call.user_id,
        api_key_id=call.api_key_id,
        preset_id=call.preset_id,
        preset_version=call.preset_version,
        conversation_id=call.conversation_id,
        message_id=call.message_id,
        model=model,
        status=status,
        prompt_tokens=prompt,
        completion_tokens=completion_tokens,
        cached_tokens=cached,
        cost=cost,
        ttft_ms=result.ttft_ms if result else None,
        total_ms=result.total_ms if result else None,
        attempts=(result.attempts if result else []) if attempts is None else attempts,
    )
    _observe_finished(call, record, result)
    return Finished(record, warnings)


def _observe_finished(call: MeteredCall, record: UsageRecord, result: gateway.StreamResult | None) -> None:
    """The call's metrics and its one log line (ids from the request context, no text of the answer)."""
    model, plan = record.model, call.plan
    metrics.TOKENS.labels(model, plan, "prompt").inc(record.prompt_tokens)
    metrics.TOKENS.labels(model, plan, "completion").inc(record.completion_tokens)
    metrics.COST.labels(model, plan).inc(float(record.cost))
    if result is not None and result.ttft_ms is not None and result.total_ms and record.completion_tokens > 1:
        per_token = (result.total_ms - result.ttft_ms) / 1000 / (record.completion_tokens - 1)
        metrics.TPOT.labels(model).observe(per_token)
    turn = timing.current_turn() if call.transport is not None else None
    if turn is not None:
        metrics.CHAT_TURNS.labels(turn.transport, OUTCOMES.get(record.status, "failed")).inc()
        if (ttft := turn.ttft()) is not None:
            metrics.TTFT.labels(model, turn.transport).observe(ttft)
        if (added := turn.added_ttft()) is not None:
            metrics.ADDED_TTFT.labels(turn.transport).observe(added)
    logger.info(
        "model call finished: kind=%s model=%s status=%s prompt_tokens=%d completion_tokens=%d ttft_ms=%s",
        record.kind,
        model,
        record.status,
        record.prompt_tokens,
        record.completion_tokens,
        record.ttft_ms,
    )


def release(call: MeteredCall | None, *, client_left: bool = False) -> None:
    """Give back everything the call held, as if it had never been admitted; a no-op once finished.

    A turn's call released without being finished counts as `failed` (no answer was recorded),
    or as `stopped` when `client_left`: its client went away, and the service did not fail.
    """
    if call is not None:
        if not call.ended and call.transport is not None:
            metrics.CHAT_TURNS.labels(call.transport, "stopped" if client_left else "failed").inc()
        call.ended = True
        guardrails.release(call.admission)
        call.admission = None


def holds(call: MeteredCall) -> dict[str, str]:
    """The call's holds as the answer stores them, so whoever finds it abandoned can settle them."""
    admission = call.admission
    held = {
        "tokens": admission.reservation_id if admission else None,
        "cost": admission.cost_reservation_id if admission else None,
        "api_key": call.api_key_id,
    }
    return {name: str(value) for name, value in held.items() if value is not None}


def admission_from(held: dict[str, str]) -> guardrails.Admission:
    """The admission an abandoned answer's stored `holds` stand for (its reservations only)."""
    return guardrails.Admission(held.get("tokens"), 0, cost_reservation_id=held.get("cost"))
