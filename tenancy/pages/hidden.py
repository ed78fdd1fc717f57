"""Recording a page's 404 that hid a row of another organisation, as the API's tenant routes do.

A page resolves the caller's membership of the URL's organisation (`page_membership`, which
remembers it on the request), then looks up the ids of its URL inside that organisation; a miss is
`Http404`. `hiding_recorded` wraps a module's page routes once: when one of them answers 404 after
the membership was resolved, each id of its URL named in `addressed_by` (and each id the page took
from its query or form and named with `address`) is checked, and one that
exists in another organisation is recorded as `access.denied` in the caller's organisation
(tenancy/denials.py: the event names the id, never the other organisation). The 404 leaves
unchanged either way. A 404 for the organisation itself is `page_membership`'s to record.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern

from tenancy import denials
from tenancy.models import Membership

# Where page_membership leaves the caller's membership of the URL's organisation, and where `address`
# collects the ids a page looks up from its query or form.
MEMBERSHIP_ATTRIBUTE = "tenant_membership"
ADDRESSED_ATTRIBUTE = "tenant_addressed"


def remember_membership(request: HttpRequest, membership: Membership) -> None:
    setattr(request, MEMBERSHIP_ATTRIBUTE, membership)


def address(request: HttpRequest, model: type[models.Model], value: Any) -> None:
    """Name an id the page is about to look up that is not in its URL (a form's preset, say): a 404
    the page then answers is checked against it as against the URL's ids."""
    addressed = getattr(request, ADDRESSED_ATTRIBUTE, [])
    setattr(request, ADDRESSED_ATTRIBUTE, [*addressed, (model, value)])


def recording_hidden(view: Callable[..., HttpResponse], addressed_by: dict[str, type[models.Model]]) -> Callable:
    """The view, recording its 404 when a URL id in `addressed_by` names another organisation's row."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Http404:
            membership = getattr(request, MEMBERSHIP_ATTRIBUTE, None)
            addressed = [(model, kwargs[name]) for name, model in addressed_by.items() if name in kwargs]
            addressed += getattr(request, ADDRESSED_ATTRIBUTE, [])
            if membership is not None and addressed:
                route = getattr(request.resolver_match, "url_name", "") or ""
                denials.record_hidden(
                    actor=request.user, org=membership.org, route=route, addressed=addressed, method=request.method
                )
            raise

    return wrapped


def hiding_recorded(patterns: list[URLPattern], **addressed_by: type[models.Model]) -> list[URLPattern]:
    """Page routes whose 404s are recorded when `addressed_by`'s URL ids (kwarg name → the org-owned
    model it names) exist in another organisation; every route of the list, so none is forgotten."""
    for pattern in patterns:
        pattern.callback = recording_hidden(pattern.callback, addressed_by)
    return patterns
