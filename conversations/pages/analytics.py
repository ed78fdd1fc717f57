"""A preset's analytics page: one chart per metric, one line per version, over a chosen period.

The figures are the API's (conversations/analytics.py), rendered into a JSON data block that
static/js/presets/analytics.js draws with uPlot; a table of each version's totals carries the same
numbers for readers who do not see the charts. It lives here, not with the preset pages, because
the report reads conversations' tables and presets sit below conversations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import InvalidInput
from conversations.analytics import analytics_period, preset_analytics
from conversations.api.usage import parse_day
from conversations.usage import UsageWindow
from presets.pages.access import preset_page
from presets.pages.listing import frame
from presets.selectors import Access
from tenancy.pages.forms import allow

# (key in the report, chart title, unit shown on the axis)
CHARTS = [
    ("thumbs_up_rate", "Thumbs-up rate", "share"),
    ("regenerate_rate", "Regenerate rate", "share"),
    ("edit_rate", "Edit rate", "share"),
    ("error_rate", "Error rate", "share"),
    ("tokens_per_turn", "Tokens per turn", "tokens"),
    ("cost_per_turn", "Cost per turn", "cost"),
    ("ttft_ms_p50", "Time to first token (median)", "ms"),
    ("turns", "Turns", "turns"),
    ("conversations", "Conversations", "conversations"),
]


@login_required
@allow("GET")
def preset_analytics_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.VIEW)
    context = frame(membership, preset=preset, tab="preset")
    try:
        period = analytics_period(since=parse_day(request.GET, "since"), until=parse_day(request.GET, "until"))
    except InvalidInput as error:
        return render(request, "presets/analytics.html", {**context, "error": error.message}, status=400)
    report = preset_analytics(preset=preset, org_id=membership.org_id, period=period)
    chart = chart_data(report=report, period=period)
    return render(request, "presets/analytics.html", {**context, "period": period, "report": report, "chart": chart})


def chart_data(*, report: dict[str, Any], period: UsageWindow) -> dict[str, Any]:
    """Every day of the period on the x axis and, per metric, one series per version (null where
    the version had no answer that day, so a line breaks instead of dropping to zero)."""
    days = [(period.start + timedelta(days=n)).isoformat() for n in range((period.end - period.start).days + 1)]
    versions = report["versions"]
    by_day = [{item["day"]: item for item in entry["days"]} for entry in versions]
    charts = [
        {
            "key": key,
            "title": title,
            "unit": unit,
            "series": [[_number(found.get(day, {}).get(key)) for day in days] for found in by_day],
        }
        for key, title, unit in CHARTS
    ]
    labels = [f"v{entry['version']}" if entry["version"] is not None else "no version" for entry in versions]
    return {"days": days, "versions": labels, "charts": charts}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)  # costs are decimal strings in the report
