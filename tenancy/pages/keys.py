"""The API keys page: create (the secret is shown once, in the answer to the create), list, revoke.

A member sees and revokes their own keys, a key manager every key of the organisation: the API's
selector decides, so both paths show the same keys.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from tenancy import services
from tenancy.api.serializers import ApiKeyCreateSerializer
from tenancy.models import ApiKey, Membership
from tenancy.pages.forms import allow, answer, attempt, validated
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, Scope, role_has
from tenancy.selectors import api_keys_visible

PAGE, PARTIAL = "account/keys.html", "account/_keys.html"


def visible_keys(membership: Membership) -> Any:
    sees_all = role_has(membership.role, Perm.API_KEYS_MANAGE)
    return api_keys_visible(org=membership.org, user=membership.user, sees_all=sees_all)


def keys_context(membership: Membership, **extra: Any) -> dict[str, Any]:
    return {
        "org": membership.org,
        "membership": membership,
        "section": "keys",
        "keys": visible_keys(membership).order_by("-created_at"),
        "sees_all": role_has(membership.role, Perm.API_KEYS_MANAGE),
        "scopes": [scope.value for scope in Scope],
        **extra,
    }


@login_required
@allow("GET", "POST")
def keys_page(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.API_KEYS_OWN)
    if request.method == "GET":
        return render(request, PAGE, keys_context(membership))
    form = {
        "name": request.POST.get("name", ""),
        "scopes": request.POST.getlist("scopes"),
        "expires_at": request.POST.get("expires_at") or None,
    }
    created, error = attempt(lambda: _create(membership, form))
    if error is not None:
        return answer(
            request,
            page=PAGE,
            partial=PARTIAL,
            context=lambda: keys_context(membership, form=form),
            section="keys",
            error=error,
            done_url=request.path,
        )
    api_key, secret = created
    # The secret exists only in this answer: shown now, never stored, so never shown again.
    context = keys_context(membership, created=api_key, secret=secret)
    return render(request, PARTIAL if request.htmx else PAGE, context, status=201)


def _create(membership: Membership, form: dict[str, Any]) -> tuple[ApiKey, str]:
    data = validated(ApiKeyCreateSerializer, form)
    return services.api_key_create(org=membership.org, actor=membership.user, **data)


@login_required
@allow("POST")
def key_revoke(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.API_KEYS_OWN)
    api_key = visible_keys(membership).filter(pk=pk).first()
    if api_key is None:
        raise Http404("No such key")
    services.api_key_revoke(api_key=api_key, actor=membership.user)
    return answer(
        request,
        page=PAGE,
        partial=PARTIAL,
        context=lambda: keys_context(membership),
        section="keys",
        done_url=reverse("account-keys", kwargs={"org_slug": org_slug}),
    )
