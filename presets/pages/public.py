"""Pages outside any organisation: the public gallery and a share link's landing page.

A link's landing page opens the link (counting a use, as `GET /links/{token}/`) and shows the
preset read-only, its prompt hidden for a `use` link. A link that is revoked, expired or used up
gets a page saying so to whoever it was meant for (presets.link_status); any other token is a 404.
Cloning goes through presets.services.outside, as the API's gallery and link clones do; starting a
chat from either is conversations' page (conversations/pages/outside.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, NotFound
from presets.api import serializers as s
from presets.api.presenters import preset_detail
from presets.link_status import closed_link, link_state
from presets.models import Preset
from presets.outside import gallery_preset as gallery_entry
from presets.outside import gallery_presets, link_access
from presets.pages.access import form_data, membership_acting_in, memberships_allowing, refused
from presets.search import search
from presets.selectors import Access
from presets.services import outside, sharing
from tenancy.permissions import Perm

GALLERY_PAGE = 30


def _choices(request: HttpRequest) -> dict[str, Any]:
    """Where the caller may clone into and chat in."""
    return {
        "clone_into": memberships_allowing(request.user, Perm.PRESETS_WRITE),
        "chat_in": memberships_allowing(request.user, Perm.CHAT),
    }


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")
    presets = search(gallery_presets().select_related("owner", "org"), text).order_by("-rank", "-updated_at")
    page = Paginator(presets, GALLERY_PAGE).get_page(request.GET.get("page"))
    return render(request, "presets/gallery.html", {"page": page, "query": text, "section": "gallery"})


@login_required
def gallery_preset(request: HttpRequest, pk: Any) -> HttpResponse:
    try:
        preset = gallery_entry(preset_id=pk)
    except NotFound:
        raise Http404("No such preset in the gallery") from None
    detail = preset_detail(preset, Access.VIEW, number=preset.public_approved_version)
    context = {"preset": preset, "detail": detail, "section": "gallery", **_choices(request)}
    return render(request, "presets/gallery_preset.html", context)


def _opened(request: HttpRequest, copy: Preset) -> HttpResponse:
    messages.success(request, f"Cloned into your presets in {copy.org.name}.")
    return redirect("preset-page", org_slug=copy.org.slug, pk=copy.pk)


@require_POST
@login_required
def gallery_clone(request: HttpRequest, pk: Any) -> HttpResponse:
    try:
        data = form_data(s.CloneIntoOrgSerializer, request)
        membership = membership_acting_in(request, data.pop("org", None), Perm.PRESETS_WRITE)
        copy = outside.gallery_clone(preset_id=pk, membership=membership, **data)
    except NotFound:
        raise Http404("No such preset in the gallery") from None
    except DomainError as error:
        return refused(request, error)
    return _opened(request, copy)


def closed(request: HttpRequest, token: str) -> HttpResponse:
    """The page of a link that no longer opens: why, to whoever it was for; a 404 to anyone else."""
    link = closed_link(token=token, user=request.user)
    if link is None:
        raise Http404("This link does not exist or is not for you")
    return render(request, "presets/link_closed.html", {"state": link_state(link), "link": link}, status=410)


@login_required
def link_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = sharing.link_open(token=token, user=request.user)
    except NotFound:
        return closed(request, token)
    access = link_access(link.level)
    context = {
        "link": link,
        "token": token,
        "detail": preset_detail(link.preset, access),
        "prompt_hidden": access < Access.VIEW,
        **_choices(request),
    }
    return render(request, "presets/link.html", context)


@require_POST
@login_required
def link_clone(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = form_data(s.CloneIntoOrgSerializer, request)
        membership = membership_acting_in(request, data.pop("org", None), Perm.PRESETS_WRITE)
        copy = outside.link_clone(token=token, membership=membership, **data)
    except NotFound:
        return closed(request, token)
    except DomainError as error:
        return refused(request, error)
    return _opened(request, copy)
