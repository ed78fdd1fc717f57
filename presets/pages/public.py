"""Pages outside any organisation: the public gallery and a share link's landing page.

A link's landing page opens the link (counting a use, as `GET /links/{token}/`) and shows the
preset read-only, its prompt hidden for a `use` link. A link that is revoked, expired or used up
gets a page saying so to whoever it was meant for (presets.link_status); any other token is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, NotFound, PresetNotApproved, PromptHidden
from presets.api import serializers as s
from presets.api.presenters import preset_detail
from presets.link_status import closed_link, link_state
from presets.models import Level, Preset, Scope
from presets.pages.access import form_data, refused
from presets.search import search
from presets.selectors import Access, readable_version, version_content
from presets.services import lifecycle, sharing
from tenancy.models import Membership
from tenancy.permissions import Perm, role_has

GALLERY_PAGE = 30


def _gallery() -> Any:
    # The API's gallery (presets.api.public.GalleryViewSet): public presets staff let in.
    return Preset.objects.alive().filter(scope=Scope.PUBLIC, public_approved_version__isnull=False)


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")
    presets = search(_gallery().select_related("owner", "org"), text).order_by("-rank", "-updated_at")
    page = Paginator(presets, GALLERY_PAGE).get_page(request.GET.get("page"))
    return render(request, "presets/gallery.html", {"page": page, "query": text, "section": "gallery"})


@login_required
def gallery_preset(request: HttpRequest, pk: Any) -> HttpResponse:
    preset = _gallery().filter(pk=pk).select_related("org").first()
    if preset is None:
        raise Http404("No such preset in the gallery")
    detail = preset_detail(preset, Access.VIEW, number=preset.public_approved_version)
    return render(request, "presets/gallery_preset.html", {"preset": preset, "detail": detail, "section": "gallery"})


def _link_access(level: str) -> Access:
    return Access.VIEW if level == Level.VIEW else Access.USE


def _writable_memberships(user: Any) -> list[Membership]:
    memberships = Membership.objects.filter(user=user).select_related("org").order_by("org__name")
    return [m for m in memberships if role_has(m.role, Perm.PRESETS_WRITE)]


def _closed(request: HttpRequest, token: str) -> HttpResponse:
    link = closed_link(token=token, user=request.user)
    if link is None:
        raise Http404("This link does not exist or is not for you")
    context = {"state": link_state(link), "link": link}
    return render(request, "presets/link_closed.html", context, status=410)


@login_required
def link_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = sharing.link_open(token=token, user=request.user)
    except NotFound:
        return _closed(request, token)
    access = _link_access(link.level)
    member = Membership.objects.for_org(link.org).filter(user=request.user).exists()
    context = {
        "link": link,
        "token": token,
        "detail": preset_detail(link.preset, access),
        "prompt_hidden": access < Access.VIEW,
        "clone_into": _writable_memberships(request.user),
        "chat_org": link.org if member else None,
    }
    return render(request, "presets/link.html", context)


def _link_clone(*, token: str, membership: Membership, name: str | None) -> Preset:
    """The API's link clone (presets.api.public.LinkCloneView): counts a use; never a `use` link's prompt."""
    link = sharing.link_open(token=token, user=membership.user)
    access = _link_access(link.level)
    if access < Access.VIEW:
        raise PromptHidden()
    number = readable_version(link.preset, access)
    if number is None:
        raise PresetNotApproved()
    content = version_content(preset_id=link.preset_id, number=number)
    return lifecycle.preset_clone(
        source=link.preset, content=content, version=number, org=membership.org, actor=membership.user, name=name
    )


@require_POST
@login_required
def link_clone(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = form_data(s.LinkCloneSerializer, request)
        membership = next((m for m in _writable_memberships(request.user) if m.org.slug == data.get("org")), None)
        if membership is None:
            raise NotFound("Choose one of your organisations where you may write presets.")
        copy = _link_clone(token=token, membership=membership, name=data.get("name"))
    except NotFound:
        return _closed(request, token)
    except DomainError as error:
        return refused(request, error)
    messages.success(request, f"Cloned into your presets in {membership.org.name}.")
    return redirect("preset-page", org_slug=membership.org.slug, pk=copy.pk)
