"""The preset list (search and filters, as `GET /presets/`) and the trash."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from presets.filters import PresetFilter
from presets.models import Scope, Status
from presets.search import search
from presets.selectors import preset_list_visible, preset_trash
from tenancy.models import Membership, Team
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, role_has

PAGE_SIZE = 50


def frame(membership: Membership, **context: Any) -> dict[str, Any]:
    """What every preset page shows around its content."""
    return {
        "org": membership.org,
        "membership": membership,
        "may_write": role_has(membership.role, Perm.PRESETS_WRITE),
        "may_chat": role_has(membership.role, Perm.CHAT),
        "section": "presets",
        **context,
    }


@login_required
def preset_list(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_READ)
    text = request.GET.get("q", "")
    visible = search(preset_list_visible(membership=membership).select_related("owner", "team"), text)
    filters = PresetFilter(request.GET, queryset=visible)
    valid = filters.is_valid()
    presets = filters.qs.order_by("-rank", "-updated_at") if valid else visible.none()
    context = frame(
        membership,
        page=Paginator(presets, PAGE_SIZE).get_page(request.GET.get("page")),
        errors=filters.errors,
        query=request.GET,
        scopes=Scope.choices,
        statuses=Status.choices,
        teams=Team.objects.for_org(membership.org).order_by("name"),
    )
    template = "presets/_results.html" if request.htmx else "presets/list.html"
    return render(request, template, context, status=200 if valid else 400)


@login_required
def trash(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_WRITE)
    trashed = preset_trash(membership=membership).select_related("owner").order_by("-deleted_at")
    return render(request, "presets/trash.html", frame(membership, presets=trashed[:PAGE_SIZE]))
