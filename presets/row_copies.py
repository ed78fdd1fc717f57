"""The preset a turn names, without a query on every turn: each process keeps those rows.

Starting a turn reads its preset's row (by slug on /v1, by id on the other transports). Each process
keeps the rows it read per organisation, under a version token in the shared cache that every save
or delete of one of the organisation's presets replaces (chatpresets/version_tokens.py), so an edit,
an approval or a trashing counts on the next turn in every process. What is decided from the row
(the caller's access, grants, the approved version, labels, the version's content) is decided on
every turn as before.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chatpresets.version_tokens import OrgCopies
from presets.models import Preset
from tenancy.models import Organization

# A preset row carries its system prompt (up to PRESET_PROMPT_MAX_CHARS): fewer of them than of callers.
COPIES = OrgCopies("preset-rows", what="preset rows", max_rows=1_000)


def alive_by_slug(org: Organization, slug: str) -> Preset | None:
    """The organisation's live preset with this slug (a copy), or None."""
    return COPIES.get(org.pk, ("slug", slug), lambda: Preset.objects.for_org(org).alive().filter(slug=slug).first())


def own(org: Organization, preset_id: Any, *, trashed_too: bool) -> Preset | None:
    """The organisation's preset with this id (a copy), live unless `trashed_too`, or None."""

    def query() -> Preset | None:
        queryset = Preset.objects.for_org(org)
        return (queryset if trashed_too else queryset.alive()).filter(pk=preset_id).first()

    return COPIES.get(org.pk, ("id", str(preset_id), trashed_too), query)


@receiver(post_save, sender=Preset)
@receiver(post_delete, sender=Preset)
def preset_changed(sender: type, instance: Preset, **kwargs: Any) -> None:
    COPIES.changed(instance.org_id)
