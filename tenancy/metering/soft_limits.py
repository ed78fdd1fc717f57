"""Soft-limit warnings: once a quota's use passes a share of its budget, say so once per period.

The share is `QUOTA_SOFT_LIMIT_PERCENT` (default 80), or the organisation's
`settings["soft_limit_percent"]`. The first call past it in a period records an audit event
(`quota.soft_limit_reached`), logs a warning and returns the warning, which the transports add
to the answer (`warnings` on the `done` frame and the JSON answer). `cache.add` is atomic (SET NX
on Redis), so of many processes crossing the line at once exactly one warns.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache

from chatpresets import audit_sink as audit
from tenancy.metering.quota import QuotaLimit, get_quota_store
from tenancy.metering.quota_types import QuotaStoreUnavailable
from tenancy.metering.rules import money
from tenancy.models import Membership

logger = logging.getLogger(__name__)


def threshold_percent(membership: Membership) -> float:
    value = (membership.org.settings or {}).get("soft_limit_percent", settings.QUOTA_SOFT_LIMIT_PERCENT)
    return float(value) if isinstance(value, int | float) and 0 < value <= 100 else settings.QUOTA_SOFT_LIMIT_PERCENT


def check(*, membership: Membership, limits: list[QuotaLimit]) -> list[dict[str, Any]]:
    """Warnings for the limits that have just crossed the threshold (each once per period)."""
    if not limits:
        return []
    try:
        rows = get_quota_store().usage(limits=limits)
    except QuotaStoreUnavailable:
        return []  # a warning can wait for the next call; the answer is already out
    percent, warnings = threshold_percent(membership), []
    for limit, row in zip(limits, rows, strict=True):
        if row.budget == 0 or row.used * 100 < percent * row.budget:
            continue
        ttl = max(1, math.ceil(limit.period_end_timestamp - time.time()))  # until the period ends
        try:
            first = cache.add(f"soft-limit-warned:{limit.key}", 1, timeout=ttl)
        except redis.RedisError:
            return warnings  # the cache is down: a later call warns instead
        if not first:
            continue
        warning = _warning(limit, row.used, percent)
        audit.record(org=membership.org, actor=membership.user, action="quota.soft_limit_reached", payload=warning)
        logger.warning("soft limit %s reached in %s: %s of %s", limit.name, membership.org_id, row.used, row.budget)
        warnings.append(warning)
    return warnings


def _warning(limit: QuotaLimit, used: int, percent: float) -> dict[str, Any]:
    cost = ":cost:" in limit.key
    return {
        "code": "soft_limit_reached",
        "limit": limit.name,
        "percent": percent,
        "used": money(used) if cost else used,
        "budget": money(limit.budget) if cost else limit.budget,
        "reset_at": limit.reset_at.isoformat(),
    }
