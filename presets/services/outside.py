"""Copies of presets reached from outside their organisation: from the gallery or a share link.

The copy is of exactly what the route shows (presets.outside), into an organisation the caller
chose and may write presets in; that organisation's model policy applies to it as to any preset.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from chatpresets.errors import NotFound, PresetNotApproved, PromptHidden
from presets.models import Preset, Via
from presets.outside import gallery_preset, link_access, published_version
from presets.selectors import Access, version_content
from presets.services.lifecycle import preset_clone
from presets.services.sharing import link_open
from tenancy.models import Membership


@transaction.atomic
def gallery_clone(*, preset_id: Any, membership: Membership, name: str | None = None) -> Preset:
    """A private copy of the gallery's version, in the caller's organisation."""
    source = gallery_preset(preset_id=preset_id)
    return _clone(source, published_version(source, Via.GALLERY), membership, name, Via.GALLERY)


@transaction.atomic
def link_clone(*, token: str, membership: Membership, name: str | None = None) -> Preset:
    """Counts a use of the link (undone if the copy fails); a `use` link's prompt is never copied."""
    link = link_open(token=token, user=membership.user)
    if link_access(link.level) < Access.VIEW:
        raise PromptHidden()
    return _clone(link.preset, published_version(link.preset, Via.LINK), membership, name, Via.LINK)


def _clone(source: Preset, number: int | None, membership: Membership, name: str | None, via: str) -> Preset:
    if number is None:
        raise PresetNotApproved()
    content = version_content(preset_id=source.pk, number=number)
    if content is None:
        raise NotFound()
    return preset_clone(
        source=source, content=content, version=number, org=membership.org, actor=membership.user, name=name, via=via
    )
