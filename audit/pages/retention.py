"""POST /o/<org_slug>/audit/retention/: an owner changes, from the Audit page, how long the trail is kept.

The API's serializer and service, so the same rules: owners only, 0 is forever, a blank field is the
service's default, never below the service's floor (the refusal is shown next to the form).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from audit.api.retention import RetentionInputSerializer
from audit.models import AuditChainHead
from audit.pages.trail import PAGE, retention_context, trail_context
from audit.retention import retention_set
from tenancy.models import Membership
from tenancy.pages.forms import allow, answer, attempt, validated
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

PARTIAL = "audit/_retention.html"


@login_required
@allow("POST")
def retention_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.AUDIT_RETENTION)
    days = request.POST.get("retention_days", "").strip() or None  # blank: the service's default

    def change() -> AuditChainHead:
        data = validated(RetentionInputSerializer, {"retention_days": days})
        return retention_set(org=membership.org, actor=request.user, days=data["retention_days"])

    _, error = attempt(change)
    return answer(
        request,
        page=PAGE,
        partial=PARTIAL,
        context=lambda: _context(request, membership),
        section="retention",
        error=error,
        done_url=reverse("audit-page", kwargs={"org_slug": org_slug}),
    )


def _context(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    """htmx swaps the section; a refused plain form post gets the whole page again, message and all."""
    if request.htmx:
        return {"org": membership.org, **retention_context(membership)}
    return trail_context(request, membership)
