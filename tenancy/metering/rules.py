"""Which guardrail limits apply to a member's call, and under which Redis keys they are counted.

Values start from the organisation's plan (`settings.PLAN_LIMITS`), then the organisation's own
`settings["limits"]`, then the member's `LimitOverride` row for `user_*` values. Each team the
member belongs to adds its `LimitOverride` row's `team_*` limits, counted for the whole team.
Every limit that applies is checked, so the strictest wins and the refusal names it. Null is off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings

from tenancy.metering.override_cache import override_rows
from tenancy.metering.quota_types import LedgerScope, QuotaLimit
from tenancy.models import Membership

MICROS = Decimal(1_000_000)
SUBJECT_LIMITS = ("rpm", "tpm", "tokens_day", "tokens_month", "cost_day", "cost_month")
MAX_LIMIT_WHOLE = 10**12
MAX_LIMIT_COST = Decimal(10**9)


@dataclass(frozen=True)
class Subject:
    """One counted party of a call (the organisation, a team, the member, the key) and its limits."""

    kind: str  # org | team | user | key
    key: str  # the Redis key fragment its counters live under
    values: dict[str, Any]  # e.g. {"user_rpm": 30, "user_tokens_day": None, ...}
    label: str = ""  # a team's slug, to name which team's limit refused
    ledger: dict[str, Any] = field(default_factory=dict)  # its ids in the usage ledger (LedgerScope fields)

    def value(self, limit: str) -> Any:
        return self.values.get(f"{self.kind}_{limit}")

    def name(self, limit: str) -> str:
        name = f"{self.kind}_{limit}"
        return f"{name}:{self.label}" if self.label else name


def micros(amount: Decimal | float | str) -> int:
    return int((Decimal(str(amount)) * MICROS).to_integral_value(rounding=ROUND_CEILING))


def money(amount_micros: int) -> str:
    return str((Decimal(amount_micros) / MICROS).quantize(Decimal("0.000001")))


def effective_limits(membership: Membership, user_override: dict[str, Any] | None = None) -> dict[str, Any]:
    """Plan defaults, then the organisation's overrides, then the member's own (known names only)."""
    org = membership.org
    limits = dict(settings.PLAN_LIMITS.get(org.plan, {}))
    limits.update({name: value for name, value in ((org.settings or {}).get("limits") or {}).items() if name in limits})
    # A member's row speaks for that member only, whatever else it holds.
    limits.update({name: value for name, value in (user_override or {}).items() if name.startswith("user_")})
    return limits


def subjects(membership: Membership, api_key_id: Any = None) -> list[Subject]:
    """Everyone a call by this member counts against (the override rows from override_cache)."""
    org, user = membership.org_id, membership.user_id
    user_override, teams = {}, []
    for team_id, slug, limits in override_rows(org_id=org, user_id=user):
        if team_id is None:
            user_override = limits
        else:
            teams.append(
                Subject("team", f"org:{org}:team:{team_id}", limits, slug, {"org_id": org, "team_id": team_id})
            )
    values = effective_limits(membership, user_override)
    found = [
        Subject("org", f"org:{org}", values, ledger={"org_id": org}),
        Subject("user", f"org:{org}:user:{user}", values, ledger={"org_id": org, "user_id": user}),
        *teams,
    ]
    if api_key_id is not None:
        found.append(Subject("key", f"key:{api_key_id}", values, ledger={"org_id": org, "api_key_id": api_key_id}))
    return found


def quota_limits(
    parties: list[Subject],
    *,
    preset_id: Any = None,
    policy: dict[str, Any] | None = None,
    now: datetime | None = None,
    kind: str = "tokens",
) -> list[QuotaLimit]:
    """The hard quotas of `kind` (tokens, or cost in micro-units) for these subjects this day and month."""
    quotas, periods = [], periods_at(now or datetime.now(UTC))
    for period, (label, end) in periods.items():
        for subject in parties:
            budget = subject.value(f"{kind}_{period}")
            if budget is not None:
                amount = micros(budget) if kind == "cost" else int(budget)
                key = f"quota:{subject.key}:{kind}:{label}"
                scope = LedgerScope(kind, period_start(period, end), **subject.ledger)
                quotas.append(QuotaLimit(subject.name(f"{kind}_{period}"), key, amount, end, scope))
    budget = (policy or {}).get("daily_token_budget")
    if kind == "tokens" and preset_id is not None and budget is not None:
        # Counted per organisation using the preset: strangers chatting with a gallery preset or
        # through a link spend their own organisation's share of it, never its owner's.
        org = next(subject for subject in parties if subject.kind == "org")
        label, end = periods["day"]
        scope = LedgerScope(kind, period_start("day", end), preset_id=preset_id, **org.ledger)
        key = f"quota:{org.key}:preset:{preset_id}:tokens:{label}"
        quotas.append(QuotaLimit("preset_tokens_day", key, budget, end, scope))
    return quotas


def periods_at(now: datetime) -> dict[str, tuple[str, datetime]]:
    """The day and month (UTC) that `now` falls in: each period's key label and the moment it ends."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    return {
        "day": (f"day:{day_start:%Y-%m-%d}", day_start + timedelta(days=1)),
        "month": (f"month:{month_start:%Y-%m}", next_month),
    }


def period_start(period: str, end: datetime) -> datetime:
    """Where the day or month (UTC) that ends at `end` began."""
    day_start = end - timedelta(days=1)
    return day_start if period == "day" else day_start.replace(day=1)


def check_override(*, team: Any, user: Any, limits: Any) -> list[str]:
    """Problems with an override row's limits: unknown names, names of the other kind, bad values."""
    if not isinstance(limits, dict):
        return ["limits must be an object of limit names to values"]
    kind = "team" if team is not None else "user"
    allowed = {f"{kind}_{limit}" for limit in SUBJECT_LIMITS}
    problems = [
        f"{name}: not a {kind} limit (use {', '.join(sorted(allowed))})" for name in limits if name not in allowed
    ]
    for name, value in limits.items():
        if name not in allowed:
            continue
        try:
            parse_limit(name, value)
        except ValueError as error:
            problems.append(f"{name}: {value!r} is not {error}")
    return problems


def parse_limit(name: str, value: Any) -> Decimal | int | None:
    """A limit's value as a number (None is off), or ValueError naming what it should be.

    Bounded so a typo cannot overflow the counters: whole numbers up to 10**12, amounts up to
    10**9 in the catalogue's currency (10**15 micro-units, exact in Redis's Lua numbers).
    """
    if value is None:
        return None
    if "cost" in name:
        expected = f"a non-negative amount (at most {MAX_LIMIT_COST})"
        try:
            amount = Decimal(str(value))
            ok = not isinstance(value, bool) and amount.is_finite() and Decimal(0) <= amount <= MAX_LIMIT_COST
        except ArithmeticError:
            ok = False
        if not ok:
            raise ValueError(expected)
        return amount
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT_WHOLE:
        raise ValueError(f"a non-negative whole number (at most {MAX_LIMIT_WHOLE})")
    return value
