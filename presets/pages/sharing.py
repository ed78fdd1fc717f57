"""The share dialog of one preset: grants to people and teams, share links, libraries, the gallery.

Only the preset's managers reach it (`manage`, as the API's share and link routes). A new link's
token is shown once, on the page that answers its creation.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, InvalidInput
from presets.api import serializers as s
from presets.link_status import link_state
from presets.models import LINK_LEVEL_CHOICES, Audience, Level, LibraryItem, Preset, PresetLink
from presets.pages.access import form_data, preset_page, refused
from presets.pages.listing import frame
from presets.selectors import Access
from presets.services import libraries, sharing
from tenancy.models import Membership, Team
from tenancy.permissions import Perm
from tenancy.selectors import user_by_identifier

WRITE = Perm.PRESETS_WRITE
EXPIRY_HOURS = {"": None, "1": 1, "24": 24, "168": 168, "720": 720}
LINKS_SHOWN = 50


def _libraries(membership: Membership, preset: Preset) -> list[dict[str, Any]]:
    holding = set(LibraryItem.objects.filter(preset=preset).values_list("library_id", flat=True))
    return [
        {"library": library, "holds": library.pk in holding}
        for library in libraries.libraries_visible(membership=membership).select_related("team")
        if libraries.may_manage(
            library_kind=library.kind, team=library.team, owner_id=library.owner_id, membership=membership
        )
    ]


def _dialog(
    request: HttpRequest, membership: Membership, preset: Preset, *, status: int = 200, **extra: Any
) -> HttpResponse:
    links = PresetLink.objects.for_org(membership.org).filter(preset=preset).select_related("created_by")
    context = frame(
        membership,
        preset=preset,
        shares=sharing.shares_of(preset),
        teams=Team.objects.for_org(membership.org).order_by("name"),
        levels=Level.choices,
        link_levels=LINK_LEVEL_CHOICES,
        audiences=Audience.choices,
        links=[(link, link_state(link)) for link in links[:LINKS_SHOWN]],
        libraries=_libraries(membership, preset),
        **extra,
    )
    return render(request, "presets/share.html", context, status=status)


def _back(preset: Preset) -> HttpResponse:
    return redirect("preset-share-page", org_slug=preset.org.slug, pk=preset.pk)


@login_required
def share_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    return _dialog(request, membership, preset)


@require_POST
@login_required
def grant(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    try:
        data = form_data(s.ShareGrantSerializer, request, org=membership.org)
        user = user_by_identifier(data["user"]) if "user" in data else None
        if "user" in data and user is None:
            raise InvalidInput("No member of this organisation with that name or e-mail.", details={"field": "user"})
        share = sharing.share_grant(
            preset=preset, actor=request.user, level=data["level"], user=user, team=data.get("team")
        )
    except DomainError as error:
        return _dialog(request, membership, preset, status=error.status_code, error=error)
    messages.success(request, f"Shared with {share.name} at {share.level.label.lower()}.")
    return _back(preset)


@require_POST
@login_required
def ungrant(request: HttpRequest, org_slug: str, pk: Any, principal: str) -> HttpResponse:
    _, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    try:
        sharing.share_revoke(preset=preset, actor=request.user, key=principal)
    except DomainError:
        raise Http404("No such grant") from None
    messages.success(request, "Access removed.")
    return _back(preset)


def _link_body(request: HttpRequest) -> dict[str, Any]:
    hours = request.POST.get("expires_in", "")
    if hours not in EXPIRY_HOURS:
        raise InvalidInput("Choose an expiry from the list.", details={"field": "expires_in"})
    data = form_data(s.LinkCreateSerializer, request)
    data["expires_at"] = timezone.now() + timedelta(hours=EXPIRY_HOURS[hours]) if EXPIRY_HOURS[hours] else None
    return data


@require_POST
@login_required
def link_create(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    try:
        link, token = sharing.link_create(preset=preset, actor=request.user, **_link_body(request))
    except DomainError as error:
        return _dialog(request, membership, preset, status=error.status_code, error=error)
    url = request.build_absolute_uri(reverse("link-page", kwargs={"token": token}))
    return _dialog(request, membership, preset, new_link=link, new_link_url=url)


@require_POST
@login_required
def link_revoke(request: HttpRequest, org_slug: str, pk: Any, link_id: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    link = PresetLink.objects.for_org(membership.org).filter(preset=preset, pk=link_id).first()
    if link is None:
        raise Http404("No such link")
    sharing.link_revoke(link=link, actor=request.user)
    messages.success(request, "The link is revoked; it opens nothing any more.")
    return _back(preset)


@require_POST
@login_required
def library_toggle(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """Add the preset to a library the caller manages, or take it out; the library's other items stay."""
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    library = libraries.libraries_visible(membership=membership).filter(pk=_uuid(request.POST.get("library"))).first()
    if library is None:
        return refused(request, InvalidInput("Choose one of your libraries.", details={"field": "library"}))
    ids = list(LibraryItem.objects.filter(library=library).values_list("preset_id", flat=True))
    ids = [i for i in ids if i != preset.pk] if preset.pk in ids else [*ids, preset.pk]
    # Every item, seen by this caller or not: they replace the library's contents, so none may be dropped.
    by_id = Preset.objects.for_org(membership.org).in_bulk(ids)
    try:
        libraries.library_set_items(library=library, membership=membership, presets=[by_id[i] for i in ids])
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Library {library.name} updated.")
    return _back(preset)


def _uuid(raw: str | None) -> str | None:
    try:
        return str(uuid.UUID(raw or ""))
    except ValueError:
        return None
