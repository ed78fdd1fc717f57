"""The guardrail pipeline every model call passes: rate limits, then hard token quotas.

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
its `downgrade_model` (see conversations.cost_controls).

Limits come from the organisation's plan (`PLAN_LIMITS`), overridden by `Organization.settings
["limits"]`; a limit set to null is off.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings
from rest_framework import status

from chatpresets.errors import DomainError
from tenancy.limits.gcra import Decision, Limit
from tenancy.limits.quota import QuotaLimit, get_quota_store
from tenancy.limits.quota_types import QuotaExceeded, QuotaStoreUnavailable
from tenancy.limits.ratelimit import get_rate_limiter
from tenancy.models import Membership

logger = logging.getLogger(__name__)

MINUTE = 60.0
# A reservation outlives the longest call it can cover; after that the sweeper releases it.
RESERVATION_TTL_SECONDS = 900


class RateLimited(DomainError):
    code = "rate_limited"
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


MICROS = Decimal(1_000_000)


def micros(amount: Decimal | float | str) -> int:
    return int((Decimal(str(amount)) * MICROS).to_integral_value(rounding=ROUND_CEILING))


def money(amount_micros: int) -> str:
    return str((Decimal(amount_micros) / MICROS).quantize(Decimal("0.000001")))


@dataclass
class Admission:
    """What one admitted call holds: its quota reservations (if any quota applies) and its estimates."""

    reservation_id: str | None
    estimated_tokens: int
    tpm_limits: list[Limit] = field(default_factory=list)
    decision: Decision | None = None
    cost_reservation_id: str | None = None


def effective_limits(membership: Membership) -> dict[str, int | None]:
    org = membership.org
    limits = dict(settings.PLAN_LIMITS.get(org.plan, {}))
    overrides = (org.settings or {}).get("limits") or {}
    limits.update({name: value for name, value in overrides.items() if name in limits})
    return limits


def admit(
    *,
    membership: Membership,
    api_key_id: Any,
    prompt_tokens: int,
    max_tokens: int,
    preset_id: Any = None,
    preset_policy: dict[str, Any] | None = None,
    estimated_cost: Decimal = Decimal(0),
) -> Admission:
    """Refuse (429/413/503) or admit one model call; an admitted call must be settled or released."""
    if not settings.GUARDRAILS_ENABLED:
        return Admission(None, prompt_tokens + max_tokens)
    limits = effective_limits(membership)
    estimated = prompt_tokens + max_tokens
    requests, tokens = _rate_limits(membership, api_key_id, limits, estimated)
    decision = get_rate_limiter().check(limits=[*requests, *tokens])
    if not decision.allowed:
        raise RateLimited(decision) if decision.retryable else TooLargeForLimit(decision)
    admission = Admission(None, estimated, tokens, decision)
    try:
        quotas = quota_limits(membership=membership, api_key_id=api_key_id, preset_id=preset_id, policy=preset_policy)
        admission.reservation_id = _reserve(quotas, estimated)
        try:
            admission.cost_reservation_id = _reserve(cost_limits(membership, api_key_id), micros(estimated_cost))
        except QuotaExceeded as refusal:
            raise BudgetExceeded(refusal) from refusal
    except DomainError:
        release(admission)  # a refused call spends nothing, not even its tokens per minute
        raise
    return admission


def _reserve(limits: list[QuotaLimit], amount: int) -> str | None:
    if not limits:
        return None
    reservation_id = str(uuid.uuid4())
    get_quota_store().reserve(
        limits=limits, amount=amount, reservation_id=reservation_id, ttl_seconds=RESERVATION_TTL_SECONDS
    )
    return reservation_id


def release(admission: Admission | None) -> None:
    """Give back everything an admitted call held, as if it had never been admitted."""
    settle(admission, used_tokens=0)


def settle(admission: Admission | None, *, used_tokens: int, used_cost: Decimal = Decimal(0)) -> None:
    """Charge the real usage and free the rest of the holds; never raises (the answer is already out)."""
    if admission is None:
        return
    if admission.tpm_limits and used_tokens != admission.estimated_tokens:
        _refund_tokens(admission.tpm_limits, admission.estimated_tokens - used_tokens)
        admission.tpm_limits = []
    for reservation_id, actual in (
        (admission.reservation_id, used_tokens),
        (admission.cost_reservation_id, micros(used_cost)),
    ):
        if reservation_id is None:
            continue
        try:
            get_quota_store().settle(reservation_id=reservation_id, actual=actual)
        except QuotaStoreUnavailable:
            # The reservation stays held until the sweeper releases it: it over-counts, never under.
            logger.warning("quota settle failed; reservation %s left to expire", reservation_id)
    admission.reservation_id = admission.cost_reservation_id = None


def _refund_tokens(limits: list[Limit], amount: int) -> None:
    """Give back (or, for a negative amount, charge) tokens-per-minute against every limit."""
    limiter = get_rate_limiter()
    for limit in limits:
        limiter.adjust(limit=limit, delta=-amount)


def _rate_limits(
    membership: Membership, api_key_id: Any, limits: dict[str, int | None], estimated: int
) -> tuple[list[Limit], list[Limit]]:
    requests, tokens = [], []
    for subject, key in _subjects(membership, api_key_id):
        if limits.get(f"{subject}_rpm"):
            requests.append(Limit(f"rl:{key}:rpm", limits[f"{subject}_rpm"], MINUTE, 1, f"{subject}_rpm"))
        if limits.get(f"{subject}_tpm"):
            tokens.append(Limit(f"rl:{key}:tpm", limits[f"{subject}_tpm"], MINUTE, estimated, f"{subject}_tpm"))
    return requests, tokens


def quota_limits(
    *,
    membership: Membership,
    api_key_id: Any = None,
    preset_id: Any = None,
    policy: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> list[QuotaLimit]:
    """Every hard quota that applies to a call by this member (through this key, with this preset)."""
    limits, policy = effective_limits(membership), policy or {}
    quotas, periods = [], _periods(now or datetime.now(UTC))
    for period, (label, end) in periods.items():
        for subject, key in _subjects(membership, api_key_id):
            budget = limits.get(f"{subject}_tokens_{period}")
            if budget is not None:
                quotas.append(QuotaLimit(f"{subject}_tokens_{period}", f"quota:{key}:tokens:{label}", budget, end))
    if preset_id is not None and policy.get("daily_token_budget") is not None:
        label, end = _periods(datetime.now(UTC))["day"]
        quotas.append(
            QuotaLimit(
                "preset_tokens_day", f"quota:preset:{preset_id}:tokens:{label}", policy["daily_token_budget"], end
            )
        )
    return quotas


def cost_limits(membership: Membership, api_key_id: Any = None, now: datetime | None = None) -> list[QuotaLimit]:
    """The cost budgets (in micro-units of the catalogue's currency) that apply to this member's calls."""
    limits = effective_limits(membership)
    quotas = []
    for period, (label, end) in _periods(now or datetime.now(UTC)).items():
        for subject, key in _subjects(membership, api_key_id):
            budget = limits.get(f"{subject}_cost_{period}")
            if budget is not None:
                name = f"{subject}_cost_{period}"
                quotas.append(QuotaLimit(name, f"quota:{key}:cost:{label}", micros(budget), end))
    return quotas


def _subjects(membership: Membership, api_key_id: Any) -> list[tuple[str, str]]:
    org, user = membership.org_id, membership.user_id
    subjects = [("org", f"org:{org}"), ("user", f"org:{org}:user:{user}")]
    if api_key_id is not None:
        subjects.append(("key", f"key:{api_key_id}"))
    return subjects


def _periods(now: datetime) -> dict[str, tuple[str, datetime]]:
    """The current day and month (UTC): each period's key label and the moment it ends."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return {
        "day": (f"day:{day_start:%Y-%m-%d}", day_start + timedelta(days=1)),
        "month": (f"month:{month_start:%Y-%m}", next_month),
    }
