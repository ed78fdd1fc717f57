"""Browser pages. Tenant pages live under /o/<org_slug>/ and follow the API's 404 rule."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import NotFound
from tenancy.models import Membership
from tenancy.selectors import membership_for_caller


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("org").order_by("org__name")
    return render(request, "home.html", {"memberships": memberships})


@login_required
def org_home(request: HttpRequest, org_slug: str) -> HttpResponse:
    try:
        membership = membership_for_caller(user=request.user, org_slug=org_slug, api_key=None)
    except NotFound:
        raise Http404("No such organisation") from None
    return render(request, "org_home.html", {"org": membership.org, "membership": membership})
