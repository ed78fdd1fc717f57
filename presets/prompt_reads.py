"""Reads of a hidden system prompt, on the audit trail (`preset.prompt_viewed`).

A preset's prompt is hidden when someone may run the preset without reading it: a `use` grant to a
person or a team, or a live `use` share link. Showing such a prompt (the preset's detail, one of
its versions, a diff between two) to anyone but the preset's owner is a sensitive read and is
recorded with the version shown. The owner's own reads are not: they wrote it. Readers below
`view` never get the prompt, so there is nothing to record for them; their refused attempts are
`access.denied` events (code `prompt_hidden`).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from audit import services as audit
from presets.models import LEVEL_PERMISSION, Level, Preset, PresetGroupObjectPermission, PresetLink
from presets.models import PresetUserObjectPermission as UserGrant
from presets.selectors import Access
from tenancy.models import User

PROMPT_VIEWED = "preset.prompt_viewed"


def prompt_hidden_from_someone(preset: Preset) -> bool:
    """Someone may run the preset without seeing its prompt (a `use` grant or a live `use` link)."""
    use = LEVEL_PERMISSION[Level.USE]
    live_links = PresetLink.objects.filter(preset=preset, level=Level.USE, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    return (
        UserGrant.objects.filter(content_object=preset, permission__codename=use).exists()
        or PresetGroupObjectPermission.objects.filter(content_object=preset, permission__codename=use).exists()
        or live_links.exists()
    )


def record_prompt_read(*, preset: Preset, access: Access, reader: User, versions: list[int | None]) -> None:
    """Record that `reader` was shown the prompt of `versions` (None: no content was readable)."""
    shown = [number for number in versions if number is not None]
    if access < Access.VIEW or not shown or reader.pk == preset.owner_id or not prompt_hidden_from_someone(preset):
        return
    audit.record(org=preset.org, actor=reader, action=PROMPT_VIEWED, target=preset, payload={"versions": shown})
