"""The Webhooks page for organisation admins: register endpoints (the secret is shown once, in the
answer to the create), see each endpoint's recent deliveries, resend one, delete an endpoint.

The same services as the API; the same `org.manage` permission.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from presets.webhooks import services
from presets.webhooks.api import WebhookWriteSerializer
from presets.webhooks.events import EVENTS
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenancy.models import Membership
from tenancy.pages.forms import allow, answer, attempt, validated
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

PAGE, PARTIAL = "presets/webhooks.html", "presets/_webhooks.html"
RECENT_DELIVERIES = 10


def webhooks_context(membership: Membership, **extra: Any) -> dict[str, Any]:
    endpoints = list(WebhookEndpoint.objects.for_org(membership.org).order_by("-created_at"))
    for endpoint in endpoints:
        endpoint.recent = list(endpoint.deliveries.order_by("-created_at")[:RECENT_DELIVERIES])
    return {"org": membership.org, "section": "webhooks", "endpoints": endpoints, "events": EVENTS, **extra}


def _done(request: HttpRequest, membership: Membership, error: Any = None) -> HttpResponse:
    return answer(
        request,
        page=PAGE,
        partial=PARTIAL,
        context=lambda: webhooks_context(membership),
        section="webhooks",
        error=error,
        done_url=reverse("webhooks-page", kwargs={"org_slug": membership.org.slug}),
    )


@login_required
@allow("GET", "POST")
def webhooks_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.ORG_MANAGE)
    if request.method == "GET":
        return render(request, PAGE, webhooks_context(membership))
    form = {
        "url": request.POST.get("url", ""),
        "description": request.POST.get("description", ""),
        "events": request.POST.getlist("events"),
    }
    created, error = attempt(
        lambda: services.endpoint_create(
            org=membership.org, actor=membership.user, **validated(WebhookWriteSerializer, form)
        )
    )
    if error is not None:
        return _done(request, membership, error)
    # The secret is shown in this answer only: the page never shows it again.
    context = webhooks_context(membership, created=created)
    return render(request, PARTIAL if request.htmx else PAGE, context, status=201)


@login_required
@allow("POST")
def webhook_delete(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.ORG_MANAGE)
    endpoint = WebhookEndpoint.objects.for_org(membership.org).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such webhook")
    services.endpoint_delete(endpoint=endpoint, actor=membership.user)
    return _done(request, membership)


@login_required
@allow("POST")
def delivery_resend(request: HttpRequest, org_slug: str, pk: Any, delivery_id: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.ORG_MANAGE)
    delivery = WebhookDelivery.objects.for_org(membership.org).filter(pk=delivery_id, endpoint_id=pk).first()
    if delivery is None:
        raise Http404("No such delivery")
    services.delivery_resend(delivery=delivery, actor=membership.user)
    return _done(request, membership)
