"""The guardrail pipeline every model call passes: rate limits, then hard token quotas.

`admit` runs before anything of the turn is stored (inside the transport's one thread hop), so
a refusal stores nothing, calls no model and spends nothing; the caller still has the message and
may resend it. Rate limits (requests and tokens per minute, per user, API key and organisation)
fail open to a per-process limiter when Redis is down. Token quotas (per day and month, per
organisation, user and API key, and the preset's own daily budget) reserve the prompt plus the
answer's `max_tokens` atomically, are settled to the real usage afterwards, and fail closed: with
their store unreachable the call is refused with 503.

Limits come from the organisation's plan (`PLAN_LIMITS`), overridden by `Organization.settings
["limits"]`; a limit set to null is off.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from rest_framework import status

from chatpresets.errors import DomainError
from tenancy.limits.gcra import Decision, Limit
from tenancy.limits.quota import QuotaLimit, get_quota_store
from tenancy.limits.quota_types import QuotaStoreUnavailable
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


@dataclass
class Admission:
    """What one admitted call holds: its quota reservation (if any quota applies) and its estimate."""

    reservation_id: str | None
    estimated_tokens: int
    tpm_limits: list[Limit] = field(default_factory=list)
    decision: Decision | None = None


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
    quotas = quota_limits(membership=membership, api_key_id=api_key_id, preset_id=preset_id, policy=preset_policy)
    reservation_id = None
    if quotas:
        reservation_id = str(uuid.uuid4())
        try:
            get_quota_store().reserve(
                limits=quotas, amount=estimated, reservation_id=reservation_id, ttl_seconds=RESERVATION_TTL_SECONDS
            )
        except DomainError:
            _refund_tokens(tokens, estimated)  # a refused call spends nothing, not even its tokens per minute
            raise
    return Admission(reservation_id, estimated, tokens, decision)


def settle(admission: Admission | None, *, used_tokens: int) -> None:
    """Charge the real usage and free the rest of the hold; never raises (the answer is already out)."""
    if admission is None:
        return
    if admission.tpm_limits and used_tokens != admission.estimated_tokens:
        _refund_tokens(admission.tpm_limits, admission.estimated_tokens - used_tokens)
    if admission.reservation_id is None:
        return
    try:
        get_quota_store().settle(reservation_id=admission.reservation_id, actual=used_tokens)
    except QuotaStoreUnavailable:
        # The reservation stays held until the sweeper releases it: it over-counts, never under.
        logger.warning("quota settle failed; reservation %s left to expire", admission.reservation_id)


def _refund_tokens(limits: list[Limit], amount: int) -> None:
    limiter = get_rate_limiter()
    for limit in limits:
        limiter.adjust(limit=limit, delta=-amount)


def _rate_limits(
    membership: Membership, api_key_id: Any, limits: dict[str, int | None], estimated: int
) -> tuple[list[Limit], list[Limit]]:
    org, user = membership.org_id, membership.user_id
    subjects = [("org", f"org:{org}"), ("user", f"org:{org}:user:{user}")]
    if api_key_id is not None:
        subjects.append(("key", f"key:{api_key_id}"))
    requests, tokens = [], []
    for subject, key in subjects:
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
    org, user = membership.org_id, membership.user_id
    subjects = [("org", f"org:{org}"), ("user", f"org:{org}:user:{user}")]
    if api_key_id is not None:
        subjects.append(("key", f"key:{api_key_id}"))
    quotas, periods = [], _periods(now or datetime.now(UTC))
    for period, (label, end) in periods.items():
        for subject, key in subjects:
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


def _periods(now: datetime) -> dict[str, tuple[str, datetime]]:
    """The current day and month (UTC): each period's key label and the moment it ends."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return {
        "day": (f"day:{day_start:%Y-%m-%d}", day_start + timedelta(days=1)),
        "month": (f"month:{month_start:%Y-%m}", next_month),
    }
