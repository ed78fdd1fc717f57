"""The Audit page under /o/<org_slug>/audit/: the organisation's trail for its owners and admins.

The same selector, filters and cursor as GET /api/v1/orgs/<org>/audit/: a table newest first, "Load
more" fetched by htmx (the next rows and the next button replace the button), and an export link
to the API's JSON Lines export with the filters in force. Other roles get the API's 403. Above the
table, how long the trail is kept; owners change it there (audit/pages/retention.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from audit.models import AuditEvent
from audit.retention import MAXIMUM_DAYS, retention_of
from audit.selectors import FILTER_NAMES, applied_filters, audit_events, split_payload
from chatpresets.pagination import NewestFirstCursorPagination
from tenancy.models import Membership
from tenancy.pages.forms import allow
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, role_has

PAGE, ROWS = "audit/trail.html", "audit/_rows.html"
LABELS = {
    "actor": "Actor (username or id)",
    "action": "Action (or a prefix like preset.)",
    "target_type": "Target type",
    "target_id": "Target id",
    "since": "Since (UTC)",
    "until": "Until (UTC, excluded)",
}


@dataclass(frozen=True)
class Row:
    """One event as the table shows it: its changes as (field, before, after), and the rest of its payload."""

    event: AuditEvent
    changes: list[tuple[str, Any, Any]]
    payload: str

    @classmethod
    def of(cls, event: AuditEvent) -> Row:
        changes, rest = split_payload(event.payload)
        shown = [(field, change["before"], change["after"]) for field, change in sorted(changes.items())]
        payload = json.dumps(rest, cls=DjangoJSONEncoder, ensure_ascii=False) if rest else ""
        return cls(event, shown, payload)


@login_required
@allow("GET")
def audit_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.AUDIT_VIEW)
    context = trail_context(request, membership)
    if "filter_error" in context:
        return render(request, PAGE, context, status=400)
    return render(request, ROWS if request.htmx else PAGE, context)


def trail_context(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    """The page's filters, rows, links and retention; `filter_error` instead of rows for a bad filter."""
    filters = applied_filters(request.GET)
    context: dict[str, Any] = {"org": membership.org, "section": "audit", "filters": filters}
    context["fields"] = [(name, LABELS[name], request.GET.get(name, "")) for name in FILTER_NAMES]
    context |= retention_context(membership)
    try:
        rows, next_url = _page(membership.org, request, filters)
    except ValidationError as error:
        return {**context, "filter_error": _problem(error)}
    query = f"?{urlencode(filters)}" if filters else ""
    export_url = reverse("audit-event-export", kwargs={"org_slug": membership.org.slug}) + query
    return {**context, "rows": rows, "next_url": next_url, "export_url": export_url}


def retention_context(membership: Membership) -> dict[str, Any]:
    """The retention section: what is in force for everyone who reads the trail, a form for owners."""
    return {
        "retention": retention_of(org=membership.org),
        "can_change_retention": role_has(membership.role, Perm.AUDIT_RETENTION),
        "maximum_days": MAXIMUM_DAYS,
    }


def _page(org: Any, request: HttpRequest, filters: dict[str, str]) -> tuple[list[Row], str | None]:
    """The form sends every field; a blank one is no filter here (the API refuses a blank instant)."""
    filterset = audit_events(org=org, params=filters)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    paginator = NewestFirstCursorPagination()
    events = paginator.paginate_queryset(filterset.qs, Request(request)) or []
    next_link = paginator.get_next_link()
    # Path and query only: behind a TLS proxy the absolute link could name http:// on an https page.
    return [Row.of(event) for event in events], _path_and_query(next_link) if next_link else None


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _problem(error: ValidationError) -> str:
    """The refused fields in words, e.g. "since: Enter a valid date/time."."""
    detail = error.detail if isinstance(error.detail, dict) else {"filters": error.detail}
    return " ".join(f"{name}: {messages[0]}" for name, messages in detail.items())
