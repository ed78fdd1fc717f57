"""The usage page: a bar per quota that applies to the caller (what GET /api/v1/me/quota/ reports) and,
for those who may read the organisation's usage, its tokens and cost by day and by model (what the
usage endpoint reports), drawn by static/js/account/usage.js from a JSON data block."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import InvalidInput
from conversations.api.usage import parse_day
from conversations.usage import UsageWindow, caller_limits, usage_summary, usage_window
from tenancy.metering.quota import QuotaStoreUnavailable
from tenancy.metering.rules import money
from tenancy.models import Membership
from tenancy.pages.forms import allow
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, role_has

SUBJECTS = {"org": "Organisation", "user": "You", "team": "Team", "key": "API key", "preset": "Preset"}
PERIODS = {"day": "today", "month": "this month"}
RATE_UNITS = {"rpm": "requests", "tpm": "tokens"}


@login_required
@allow("GET")
def usage_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug)
    context: dict[str, Any] = {"org": membership.org, "membership": membership, "section": "usage"}
    try:
        window = usage_window(start=parse_day(request.GET, "from"), end=parse_day(request.GET, "to"))
    except InvalidInput as error:
        return render(request, "account/usage.html", {**context, "error": error.message}, status=400)
    context.update(limits_context(membership), window=window)
    if role_has(membership.role, Perm.USAGE_READ):
        context["chart"] = chart_data(membership=membership, window=window)
    return render(request, "account/usage.html", context)


def limits_context(membership: Membership) -> dict[str, Any]:
    """The caller's quotas and rate limits here; with the quota store away, say so instead of failing."""
    try:
        per_org = caller_limits(user=membership.user, api_key=None)
    except QuotaStoreUnavailable:
        return {"limits_unavailable": True}
    mine = next((row for row in per_org if row["org"]["slug"] == membership.org.slug), None)
    if mine is None:
        return {"bars": [], "rate_limits": []}
    rates = [rate_line(row) for row in mine["rate_limits"]]
    return {"bars": [quota_bar(row) for row in mine["quotas"]], "rate_limits": rates}


def rate_line(row: dict[str, Any]) -> dict[str, Any]:
    name, _, label = row["name"].partition(":")
    subject, _, unit = name.partition("_")
    what = RATE_UNITS.get(unit, unit)
    title = " ".join(filter(None, [SUBJECTS.get(subject, subject), label]))
    return {**row, "title": title, "what": what, "per_minute": f"{row['limit_per_minute']:,}"}


def quota_bar(row: dict[str, Any]) -> dict[str, Any]:
    """One quota as shown: a readable name, amounts in tokens or money, and the bar's shares of 100."""
    name, _, label = row["name"].partition(":")
    subject, unit, period = name.split("_", 2)
    show = money if unit == "cost" else (lambda amount: f"{amount:,}")
    budget = max(row["budget"], 1)
    used_share = min(100.0, row["used"] * 100 / budget)
    return {
        "name": row["name"],
        "title": " ".join(filter(None, [SUBJECTS.get(subject, subject), label])),
        "what": f"{'cost' if unit == 'cost' else 'tokens'} {PERIODS.get(period, period)}",
        "used": show(row["used"]),
        "reserved": show(row["reserved"]),
        "remaining": show(row["remaining"]),
        "budget": show(row["budget"]),
        "reset_at": row["reset_at"],
        "used_share": round(used_share, 2),
        "reserved_share": round(min(100.0 - used_share, row["reserved"] * 100 / budget), 2),
    }


def chart_data(*, membership: Membership, window: UsageWindow) -> dict[str, Any]:
    """Tokens and cost per day (every day of the window, zero when idle) and per model."""
    org = membership.org
    by_day = {row["day"]: row for row in usage_summary(org=org, window=window, group_by="day")["rows"]}
    days = []
    for offset in range((window.end - window.start).days + 1):
        day = (window.start + timedelta(days=offset)).isoformat()
        days.append({"day": day, **_amounts(by_day.get(day))})
    report = usage_summary(org=org, window=window, group_by="model")
    models = [{"model": row["model"], **_amounts(row)} for row in report["rows"]]
    return {"days": days, "models": models, "totals": _amounts(report["totals"])}


def _amounts(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"tokens": 0, "cost": 0.0, "requests": 0}
    tokens = row["prompt_tokens"] + row["completion_tokens"]
    return {"tokens": tokens, "cost": float(Decimal(row["cost"])), "requests": row["requests"]}
