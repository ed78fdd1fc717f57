"""Reads for presets reached from outside their organisation: the public gallery and share links.

What each route grants, and for as long as it stands:
- the gallery: `view` of the versions platform staff approved for it (the newest is
  `public_approved_version`), while the preset is alive, public and in the gallery;
- a share link: its level (`use` runs the prompt without showing it) of the organisation-approved
  version, while the link is neither revoked nor expired, its preset is alive and, for an `org`
  link, the caller belongs to the preset's organisation.
Opening a link counts one use per person (presets.services.sharing.link_open); a conversation started from a link
re-checks it on every turn without counting. Whatever no longer stands is the same 404 as an unknown id.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from chatpresets.errors import NotFound
from presets.models import Audience, Level, Preset, PresetLink, PresetVersion, Scope, Status, Via
from presets.selectors import Access
from tenancy.models import Membership, User


def gallery_presets() -> QuerySet[Preset]:
    return Preset.objects.alive().filter(scope=Scope.PUBLIC, public_approved_version__isnull=False)


def gallery_preset(*, preset_id: Any) -> Preset:
    preset = gallery_presets().filter(pk=preset_id).first()
    if preset is None:
        raise NotFound()
    return preset


def link_access(level: str) -> Access:
    return Access.VIEW if level == Level.VIEW else Access.USE


def links_in_force() -> QuerySet[PresetLink]:
    """Links neither revoked nor expired, of presets not in the trash (`max_uses` limits opening only)."""
    return PresetLink.objects.filter(revoked_at__isnull=True, preset__deleted_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def in_audience(link: PresetLink, user: User) -> bool:
    return link.audience != Audience.ORG or Membership.objects.for_org(link.org).filter(user=user).exists()


def outside_grant(*, preset_id: Any, via: str, link_id: Any, user: User) -> tuple[Preset, Access]:
    """The preset and the level the route still grants this user, or 404."""
    if via == Via.GALLERY:
        return gallery_preset(preset_id=preset_id), Access.VIEW
    link = links_in_force().select_related("preset", "org").filter(pk=link_id, preset_id=preset_id).first()
    if via != Via.LINK or link is None or not in_audience(link, user):
        raise NotFound()
    return link.preset, link_access(link.level)


def published_version(preset: Preset, via: str) -> int | None:
    """The version the route shows now: the gallery's, or the organisation-approved one for a link."""
    return preset.public_approved_version if via == Via.GALLERY else preset.approved_version


def is_published(preset: Preset, via: str, number: int) -> bool:
    """A version the route shows or has shown: approved by staff for the gallery, by the organisation for a link."""
    versions = PresetVersion.objects.filter(preset=preset, number=number, status=Status.APPROVED)
    if via == Via.GALLERY:
        versions = versions.filter(staff_approved_at__isnull=False)
    return versions.exists()
