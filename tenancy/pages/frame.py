"""Browser pages of the frame: where a signed-in person lands. Tenant pages live under /o/<org_slug>/
and follow the API's 404 rule (another organisation is the same 404 as none)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chatpresets.errors import NotFound
from tenancy import denials
from tenancy.models import Membership
from tenancy.pages.hidden import remember_membership
from tenancy.pages.methods import page_methods
from tenancy.permissions import Perm, role_has
from tenancy.selectors import membership_for_caller

LAST_ORG_SESSION_KEY = "last_org"


def page_membership(request: HttpRequest, org_slug: str, *, needs: Perm | None = None) -> Membership:
    """The signed-in caller's membership in the URL's organisation, or the page's 404 (403 when the role
    lacks `needs`, the API's rule); remembered for `/`."""
    try:
        membership = membership_for_caller(user=request.user, org_slug=org_slug, api_key=None)
    except NotFound:
        if request.user.is_authenticated:
            attempt = denials.attempt_for(request, status=404, code="not_found")
            denials.record_refusal(attempt=attempt, org=None, org_slug=org_slug)
        raise Http404("No such organisation") from None
    if needs is not None and not role_has(membership.role, needs):
        attempt = denials.attempt_for(request, status=403, code="permission_denied")
        denials.record_refusal(attempt=attempt, org=membership.org, org_slug=org_slug)
        raise PermissionDenied("Your role in this organisation does not allow this.")
    remember_membership(request, membership)  # a later 404 of the page may be a denial (hidden.py)
    if request.session.get(LAST_ORG_SESSION_KEY) != org_slug:
        request.session[LAST_ORG_SESSION_KEY] = org_slug
    return membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Straight into the chat of the organisation used last (or the first), as ChatGPT opens on a chat."""
    memberships = list(Membership.objects.filter(user=request.user).select_related("org").order_by("org__name"))
    last = request.session.get(LAST_ORG_SESSION_KEY)
    chosen = next((m for m in memberships if m.org.slug == last), memberships[0] if memberships else None)
    if chosen is None:
        return render(request, "home.html", {"memberships": memberships})
    return redirect("chat-new", org_slug=chosen.org.slug)


@login_required
@page_methods("GET")
def org_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    page_membership(request, org_slug)
    return redirect("chat-new", org_slug=org_slug)
