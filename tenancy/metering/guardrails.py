"""The guardrail pipeline every model call passes: rate limits, then token quotas and cost budgets.

`admit` runs before anything of the turn is stored (inside the transport's one thread hop), so
a refusal stores nothing, calls no model and spends nothing; the caller still has the message and
may resend it. Rate limits (requests and tokens per minute, per user, API key and organisation)
fail open to a per-process limiter when Redis is down. Token quotas (per day and month, per
organisation, user and API key, and the preset's own daily budget) reserve the prompt plus the
answer's `max_tokens` atomically, are settled to the real usage afterwards, and fail closed: with
their store unreachable the call is refused with 503.

Cost budgets (`*_cost_day`, `*_cost_month`, in the catalogue's currency) are reserved the same way
from the catalogue prices, in micro-units, in a second reservation; when one cannot hold a call
the organisation's `over_budget` policy refuses it (`budget_exceeded`) or the caller retries on
its `downgrade_model` (see chatpresets.llm.cost_controls).

Which limits apply (plan, organisation, team and member overrides, preset) is resolved by
tenancy.metering.rules; a limit set to null is off. The whole design: docs/guardrails.md.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import status

from chatpresets import admission as turn_gate
from chatpresets.errors import DomainError
from chatpresets.observability import metrics
from tenancy.metering import ledger, soft_limits, stream_slots
from tenancy.metering.gcra import Decision, Limit
from tenancy.metering.quota import QuotaLimit, get_quota_store
from tenancy.metering.quota_types import Hold, QuotaExceeded, QuotaStoreUnavailable, Reservation
from tenancy.metering.ratelimit import get_rate_limiter
from tenancy.metering.rules import Subject, micros, money, quota_limits, subjects
from tenancy.models import Membership

logger = logging.getLogger(__name__)

MINUTE = 60.0
# A reservation outlives the longest call it can cover; after that the sweeper releases it.
RESERVATION_TTL_SECONDS = 900


class RateLimited(DomainError):
    code = "rate_limited"
    limit_kind = "rate"  # chatpresets_limit_refusals_total{kind}
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        self.retry_after_seconds = decision.retry_after_seconds
        retry = math.ceil(decision.retry_after_seconds) if decision.retryable else None
        super().__init__(
            f"The {decision.limit_name} limit of {decision.limit} per minute is reached.",
            details={"limit": decision.limit_name, "limit_value": decision.limit, "retry_after": retry},
        )

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **rate_headers(self.decision)}


class TooLargeForLimit(DomainError):
    code = "request_too_large_for_limit"
    limit_kind = "rate"
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, decision: Decision) -> None:
        super().__init__(
            f"This request alone needs more than the {decision.limit_name} limit of {decision.limit} allows.",
            details={"limit": decision.limit_name, "limit_value": decision.limit},
        )


def rate_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(math.ceil(decision.reset_after_seconds)),
    }


class BudgetExceeded(DomainError):
    code = "budget_exceeded"
    limit_kind = "budget"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, refusal: QuotaExceeded) -> None:
        self.retry_after_seconds = refusal.retry_after_seconds
        self.limit_name = refusal.limit.name
        budget, remaining = money(refusal.limit.budget), money(refusal.remaining)
        super().__init__(
            f"The {refusal.limit.name} budget has {remaining} of {budget} left, too little for this call.",
            details={
                "limit": refusal.limit.name,
                "budget": budget,
                "remaining": remaining,
                "requested": money(refusal.requested),
                "reset_at": refusal.reset_at.isoformat(),
            },
        )


@dataclass
class Admission:
    """What one admitted call holds: its quota reservations (if any quota applies) and its estimates."""

    reservation_id: str | None
    estimated_tokens: int
    tpm_limits: list[Limit] = field(default_factory=list)
    decision: Decision | None = None
    cost_reservation_id: str | None = None
    membership: Membership | None = None
    quotas: list[QuotaLimit] = field(default_factory=list)  # token and cost limits, for soft-limit warnings
    slot: stream_slots.Slot | None = None  # an interactive call's stream slot in this process


def counting_refusals(admit: Callable[..., Admission]) -> Callable[..., Admission]:
    """chatpresets_limit_refusals_total{kind}: each refusal by a limit, by the error's `limit_kind`."""

    @functools.wraps(admit)
    def counted(**kwargs: Any) -> Admission:
        try:
            return admit(**kwargs)
        except DomainError as refusal:
            if (kind := getattr(refusal, "limit_kind", None)) is not None:
                metrics.LIMIT_REFUSALS.labels(kind).inc()
            raise

    return counted


@counting_refusals
def admit(
    *,
    membership: Membership,
    api_key_id: Any,
    prompt_tokens: int,
    max_tokens: int,
    preset_id: Any = None,
    preset_policy: dict[str, Any] | None = None,
    estimated_cost: Decimal = Decimal(0),
    counts_request: bool = True,
) -> Admission:
    """Refuse (429/413/503) or admit one model call; an admitted call must be settled or released.

    Inside `released_on_error`, the admission is also released if the block raises afterwards.
    Background calls (titles, summaries) pass `counts_request=False`: nobody asked for them, so
    they spend tokens and cost but not the requests-per-minute a user has for their own sends,
    nor one of the process's stream slots. A call the process has no slot for is refused first,
    before any limit is spent. Every refusal by a limit is counted (`counting_refusals`): this is
    the one place they are raised.
    """
    slot = None
    if counts_request:
        own = membership.org.settings.get("max_concurrent_streams")
        slot = stream_slots.acquire(membership.org_id, own_limit=own)
        slot.gate_token = turn_gate.admitted()  # out of the gate's queue, in flight until the slot goes back
    try:
        admission = _limits_admit(
            membership=membership,
            api_key_id=api_key_id,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            preset_id=preset_id,
            preset_policy=preset_policy,
            estimated_cost=estimated_cost,
            counts_request=counts_request,
        )
    except BaseException:
        if slot is not None:
            slot.release()
        raise
    admission.slot = slot
    if (scope := _open_scope.get()) is not None:
        scope.append(admission)
    return admission


def _limits_admit(
    *,
    membership: Membership,
    api_key_id: Any,
    prompt_tokens: int,
    max_tokens: int,
    preset_id: Any,
    preset_policy: dict[str, Any] | None,
    estimated_cost: Decimal,
    counts_request: bool,
) -> Admission:
    """The rate limits, then the token and cost reservations; a refusal spends nothing."""
    if not settings.GUARDRAILS_ENABLED:
        return Admission(None, prompt_tokens + max_tokens)
    parties = subjects(membership, api_key_id)
    estimated = prompt_tokens + max_tokens
    requests, tokens = _rate_limits(parties, estimated)
    if not counts_request:
        requests = []
    decision = get_rate_limiter().check(limits=[*requests, *tokens])
    if not decision.allowed:
        raise RateLimited(decision) if decision.retryable else TooLargeForLimit(decision)
    admission = Admission(None, estimated, tokens, decision, membership=membership)
    try:
        quotas, costs = (
            quota_limits(parties, preset_id=preset_id, policy=preset_policy),
            quota_limits(parties, kind="cost"),
        )
        admission.quotas = [*quotas, *costs]
        _reserve(admission, quotas, costs, micros(estimated_cost))
    except BaseException:
        release(admission)  # a refused (or failed) call spends nothing, not even its tokens per minute
        raise
    return admission


# The admissions made inside the innermost `released_on_error` block of this thread or task.
_open_scope: ContextVar[list[Admission] | None] = ContextVar("guardrail_admissions", default=None)


@contextmanager
def released_on_error() -> Iterator[None]:
    """Release every admission made inside this block if the block raises.

    Admission happens before the turn is stored, so whatever fails after it (a database error
    storing the message, a failed commit, a bug, a cancelled request) must give the hold back; one
    block around the whole preparation (outside its transaction) covers every such path. When the
    block ends normally, its admissions belong to the caller, which settles them when the call ends.
    """
    outer, held = _open_scope.get(), []
    token = _open_scope.set(held)
    try:
        yield
    except BaseException:
        for admission in held:
            release(admission)
        raise
    finally:
        _open_scope.reset(token)
    if outer is not None:
        outer.extend(held)


def _reserve(admission: Admission, quotas: list[QuotaLimit], costs: list[QuotaLimit], cost: int) -> None:
    """The token and the cost reservations, together in one round trip; either refused, the call is
    refused (tokens first, as a quota; cost as a budget), and the caller releases what was held."""
    holds = {
        kind: Hold(limits, amount, str(uuid.uuid4()))
        for kind, limits, amount in (("tokens", quotas, admission.estimated_tokens), ("cost", costs, cost))
        if limits
    }
    if not holds:
        return
    try:
        outcomes = get_quota_store().reserve_each(
            holds=list(holds.values()),
            ttl_seconds=RESERVATION_TTL_SECONDS,
            rebuild=ledger.ledger_usage,  # a counter Redis lost is rebuilt before it admits anything
        )
    except QuotaStoreUnavailable:
        # A paused Redis still runs the reserve once it wakes, for a call already refused: undo it then.
        for hold in holds.values():
            UNSETTLED.add(hold.reservation_id, 0)
        raise
    outcome = dict(zip(holds, outcomes, strict=True))
    if isinstance(outcome.get("tokens"), Reservation):
        admission.reservation_id = holds["tokens"].reservation_id
    if isinstance(outcome.get("cost"), Reservation):
        admission.cost_reservation_id = holds["cost"].reservation_id
    if isinstance(refusal := outcome.get("tokens"), QuotaExceeded):
        raise refusal
    if isinstance(refusal := outcome.get("cost"), QuotaExceeded):
        raise BudgetExceeded(refusal) from refusal


def release(admission: Admission | None) -> None:
    """Give back everything an admitted call held, as if it had never been admitted; a no-op once settled."""
    if admission is not None:
        admission.quotas = []  # nothing was spent: nothing to warn about
    settle(admission, used_tokens=0)


def settle(admission: Admission | None, *, used_tokens: int, used_cost: Decimal = Decimal(0)) -> list[dict[str, Any]]:
    """Charge the real usage and free the rest of the holds; returns soft-limit warnings, never raises.

    Settles once: afterwards the admission holds nothing, so a later `release` changes nothing.
    """
    if admission is None:
        return []
    if admission.slot is not None:
        admission.slot.release()  # the stream has ended, whichever way
        admission.slot = None
    if admission.tpm_limits and used_tokens != admission.estimated_tokens:
        _refund_tokens(admission.tpm_limits, admission.estimated_tokens - used_tokens)
    admission.tpm_limits = []
    for reservation_id, actual in (
        (admission.reservation_id, used_tokens),
        (admission.cost_reservation_id, micros(used_cost)),
    ):
        if reservation_id is not None:
            _settle_or_retry_later(reservation_id, actual)
    admission.reservation_id = admission.cost_reservation_id = None
    quotas, admission.quotas = admission.quotas, []
    if not quotas or admission.membership is None or not used_tokens:
        return []
    return soft_limits.check(membership=admission.membership, limits=quotas)


class _Unsettled:
    """Settles the store did not take (Redis unreachable), retried after the next settle that works.

    Until then the estimate stays held; a settle that arrives after the hold expired is still
    charged while the store keeps the expired record (an hour). Bounded: an outage that outlasts
    MAX_UNSETTLED calls in this process leaves the oldest holds to expire and the sweeper to free.
    """

    MAX_UNSETTLED = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[tuple[str, int]] = deque(maxlen=self.MAX_UNSETTLED)

    def add(self, reservation_id: str, actual: int) -> None:
        with self._lock:
            self._items.append((reservation_id, actual))

    def __len__(self) -> int:
        return len(self._items)

    def retry(self) -> None:
        while True:
            with self._lock:
                if not self._items:
                    return
                reservation_id, actual = self._items.popleft()
            try:
                get_quota_store().settle(reservation_id=reservation_id, actual=actual)
            except QuotaStoreUnavailable:
                self.add(reservation_id, actual)
                return


UNSETTLED = _Unsettled()


def _settle_or_retry_later(reservation_id: str, actual: int) -> None:
    try:
        get_quota_store().settle(reservation_id=reservation_id, actual=actual)
    except QuotaStoreUnavailable:
        logger.warning("quota settle failed; reservation %s kept to settle later", reservation_id)
        UNSETTLED.add(reservation_id, actual)
        return
    if len(UNSETTLED):
        UNSETTLED.retry()  # the store answers again: settle what it missed


def _refund_tokens(limits: list[Limit], amount: int) -> None:
    """Give back (or, for a negative amount, charge) tokens-per-minute against every limit."""
    get_rate_limiter().adjust_many(limits=limits, delta=-amount)


def _rate_limits(parties: list[Subject], estimated: int) -> tuple[list[Limit], list[Limit]]:
    requests, tokens = [], []
    for party in parties:
        if party.value("rpm"):
            requests.append(Limit(f"rl:{party.key}:rpm", party.value("rpm"), MINUTE, 1, party.name("rpm")))
        if party.value("tpm"):
            tokens.append(Limit(f"rl:{party.key}:tpm", party.value("tpm"), MINUTE, estimated, party.name("tpm")))
    return requests, tokens
