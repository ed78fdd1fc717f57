"""The usage ledger: the daily roll-up of UsageRecord and the reads behind the usage endpoints.

UsageRecord holds one row per model call. `rollup_usage` (Celery beat, hourly) recomputes one UTC
day into UsageDaily, replacing the day whole in one transaction, so running it again is harmless.
Reads take finished days from UsageDaily and sum today and yesterday straight from UsageRecord:
those two are live, and a day leaves the live window only after a full day of hourly roll-ups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from chatpresets.errors import InvalidInput
from conversations.models import UsageDaily, UsageRecord
from tenancy.metering.quota import QuotaLimit, QuotaUsage, get_quota_store
from tenancy.metering.rules import quota_limits, subjects
from tenancy.models import ApiKey, Membership, Organization, User

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
LIVE_DAYS = 2  # today and yesterday: yesterday's roll-up may not have run yet
GROUP_COLUMNS = {"day": "day", "user": "user_id", "model": "model", "api_key": "api_key_id"}
COUNTERS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cost")
TOKENS = ("prompt_tokens", "completion_tokens", "cached_tokens")
ROLLUP_LOCK = 0x75736167  # pg_advisory_xact_lock class for roll-ups ("usag"); the object is the day
COST_PLACES = Decimal("0.00000001")  # as UsageRecord.cost


class InvalidDateRange(InvalidInput):
    code = "invalid_date_range"
    message = f"`from` must not be after `to`, and a range covers at most {MAX_RANGE_DAYS} days."


@dataclass(frozen=True)
class UsageWindow:
    """Whole UTC days from `start` to `end`, both included."""

    start: date
    end: date


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def usage_window(*, start: date | None, end: date | None) -> UsageWindow:
    """Default: the last 30 days up to today; refuse a reversed range or one over 366 days."""
    end = end or utc_today()
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end or (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidDateRange(details={"from": start.isoformat(), "to": end.isoformat(), "max_days": MAX_RANGE_DAYS})
    return UsageWindow(start, end)


# --- the roll-up -----------------------------------------------------------------------------


@shared_task(name="conversations.usage.rollup_usage")
def rollup_usage(day: str | date | None = None) -> int:
    """Recompute one UTC day (default: yesterday; ISO string from beat or a caller); returns rows."""
    if day is None:
        day = utc_today() - timedelta(days=1)
    elif isinstance(day, str):
        day = date.fromisoformat(day)
    return usage_rollup_day(day=day)


@transaction.atomic
def usage_rollup_day(*, day: date) -> int:
    """Replace every organisation's UsageDaily rows of `day` with sums of that day's UsageRecord."""
    if connection.vendor == "postgresql":  # two concurrent runs would both insert the same keys
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ROLLUP_LOCK, day.toordinal()])
    UsageDaily.objects.filter(day=day).delete()
    groups = (
        calls_between(UsageRecord.objects.all(), start=day, end=day)
        .order_by()
        .values("org_id", "user_id", "api_key_id", "model", "kind")
        .annotate(**_record_sums())
    )
    rows = [UsageDaily(day=day, **_group_key(group), **_counters(group)) for group in groups.iterator()]
    UsageDaily.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def calls_between(records: QuerySet, *, start: date, end: date) -> QuerySet:
    """UsageRecord rows made on the UTC days from `start` to `end`, both included."""
    return records.filter(created_at__gte=midnight(start), created_at__lt=midnight(end + timedelta(days=1)))


def _record_sums() -> dict[str, Any]:
    return {"n_requests": Count("id"), **{f"n_{name}": Sum(name) for name in (*TOKENS, "cost")}}


def _daily_sums() -> dict[str, Any]:
    return {f"n_{name}": Sum(name) for name in COUNTERS}


def _group_key(group: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in group.items() if not name.startswith("n_")}


def _counters(group: dict[str, Any]) -> dict[str, Any]:
    return {name: group[f"n_{name}"] or 0 for name in COUNTERS}


# --- reads -----------------------------------------------------------------------------------


def usage_summary(*, org: Organization, window: UsageWindow, group_by: str) -> dict[str, Any]:
    """Totals and one row per group value for the organisation's calls in the window."""
    column = GROUP_COLUMNS[group_by]
    merged: dict[Any, dict[str, Any]] = {}
    for group in _usage_groups(org=org, window=window, column=column):
        totals = merged.setdefault(group[column], dict.fromkeys(COUNTERS, 0))
        for name, value in _counters(group).items():
            totals[name] += value
    labels = _labels(org=org, group_by=group_by, keys=merged)
    rows = [{group_by: labels(key), **_shown(totals)} for key, totals in sorted(merged.items(), key=_order(group_by))]
    grand = {name: sum(totals[name] for totals in merged.values()) for name in COUNTERS}
    return {"totals": _shown(grand), "rows": rows}


def _usage_groups(*, org: Organization, window: UsageWindow, column: str) -> Iterable[dict[str, Any]]:
    live_from = utc_today() - timedelta(days=LIVE_DAYS - 1)
    if window.start < live_from:
        last_rolled = min(window.end, live_from - timedelta(days=1))
        daily = UsageDaily.objects.for_org(org).filter(day__gte=window.start, day__lte=last_rolled)
        yield from daily.order_by().values(column).annotate(**_daily_sums())
    if window.end >= live_from:
        live = calls_between(UsageRecord.objects.for_org(org), start=max(window.start, live_from), end=window.end)
        if column == "day":
            live = live.annotate(day=TruncDate("created_at", tzinfo=UTC))
        yield from live.order_by().values(column).annotate(**_record_sums())


def _shown(totals: dict[str, Any]) -> dict[str, Any]:
    cost = Decimal(totals["cost"]).quantize(COST_PLACES)
    return {**{name: int(totals[name]) for name in ("requests", *TOKENS)}, "cost": format(cost, "f")}


def _order(group_by: str) -> Callable[[tuple[Any, dict[str, Any]]], Any]:
    if group_by == "day":
        return lambda item: item[0]
    return lambda item: (-(item[1]["prompt_tokens"] + item[1]["completion_tokens"]), str(item[0]))


def _labels(*, org: Organization, group_by: str, keys: Iterable[Any]) -> Callable[[Any], Any]:
    """How a group value is shown: a user or key as a small object (null for none), else as is."""
    ids = [key for key in keys if key is not None]
    if group_by == "user":
        names = dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))
        return lambda key: None if key is None else {"id": key, "username": names.get(key)}
    if group_by == "api_key":
        found = {k.pk: k for k in ApiKey.objects.for_org(org).filter(pk__in=ids)}
        return lambda key: None if key is None else _key_label(key, found.get(key))
    return lambda key: key.isoformat() if isinstance(key, date) else key


def _key_label(key_id: Any, api_key: ApiKey | None) -> dict[str, Any]:
    if api_key is None:  # deleted since: the ledger keeps its id
        return {"id": str(key_id), "name": None, "prefix": None}
    return {"id": str(api_key.pk), "name": api_key.name, "prefix": api_key.prefix}


def org_quotas(*, membership: Membership) -> list[dict[str, Any]]:
    """The organisation-wide quotas (`org_tokens_*`) with what is used and reserved now."""
    limits = [limit for limit in _quota_limits(membership=membership) if limit.name.startswith("org_")]
    return [quota_payload(row) for row in get_quota_store().usage(limits=limits)]


def caller_limits(*, user: User, api_key: ApiKey | None) -> list[dict[str, Any]]:
    """Per organisation of the caller (only the key's, for a key): rate limits and quotas in force."""
    memberships = Membership.objects.filter(user=user).select_related("org").order_by("org__name", "org__slug")
    if api_key is not None:
        memberships = memberships.filter(org_id=api_key.org_id)
    key_id = api_key.pk if api_key is not None else None
    per_org = [(m, _quota_limits(membership=m, api_key_id=key_id)) for m in memberships]
    rows = iter(get_quota_store().usage(limits=[limit for _, limits in per_org for limit in limits]))  # one call
    return [
        {
            "org": {"slug": m.org.slug, "name": m.org.name, "plan": m.org.plan},
            "role": m.role,
            "rate_limits": rate_limits(membership=m, with_key=key_id is not None),
            "quotas": [quota_payload(next(rows)) for _ in limits],
        }
        for m, limits in per_org
    ]


def _quota_limits(*, membership: Membership, api_key_id: Any = None) -> list[QuotaLimit]:
    """Token quotas, then cost budgets (in micro-units), as `guardrails.admit` reserves them."""
    if not settings.GUARDRAILS_ENABLED:
        return []
    parties = subjects(membership, api_key_id)
    return [*quota_limits(parties), *quota_limits(parties, kind="cost")]


def rate_limits(*, membership: Membership, with_key: bool) -> list[dict[str, Any]]:
    """The per-minute limits `guardrails.admit` checks for this member (a limit of 0 or null is off)."""
    if not settings.GUARDRAILS_ENABLED:
        return []
    parties = subjects(membership, None)
    if with_key:  # the key's limits, whatever its id: they come from the same values
        parties.append(replace(parties[0], kind="key"))
    return [
        {"name": party.name(unit), "limit_per_minute": party.value(unit)}
        for party in parties
        for unit in ("rpm", "tpm")
        if party.value(unit)
    ]


def quota_payload(row: QuotaUsage) -> dict[str, Any]:
    return {
        "name": row.name,
        "used": row.used,
        "reserved": row.reserved,
        "budget": row.budget,
        "remaining": row.remaining,
        "reset_at": row.reset_at,
    }
