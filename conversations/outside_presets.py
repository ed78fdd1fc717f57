"""Conversations with a preset of another organisation, started from the gallery or a share link.

The conversation belongs to the caller's organisation, so every turn is admitted, charged and
audited there (rate limits, quotas, budgets and the model policy of the caller's organisation),
never in the preset owner's. It pins the version the route shows and remembers the route
(`preset_via`, `preset_link`): every turn re-checks that the route still grants the preset
(presets.outside), and nothing shows more of it than the route does: under a `use` link the
context inspector hides the prompt, as the link does.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit import services as audit
from chatpresets.llm.cost_controls import controls_for
from conversations.models import Conversation
from presets.models import Preset, PresetLink, Via
from presets.outside import gallery_preset
from presets.resolve import resolve_for_conversation
from presets.runnable import check_context_budget, check_model
from presets.services.sharing import link_open
from tenancy.models import Membership


@transaction.atomic
def conversation_from_gallery(
    *, membership: Membership, preset_id: Any, title: str = "", variables: dict[str, Any] | None = None
) -> Conversation:
    preset = gallery_preset(preset_id=preset_id)
    return _start(membership, preset, Via.GALLERY, None, title=title, variables=variables or {})


@transaction.atomic
def conversation_from_link(
    *, membership: Membership, token: str, title: str = "", variables: dict[str, Any] | None = None
) -> Conversation:
    """Counts one use of the link, undone if the conversation cannot start."""
    link = link_open(token=token, user=membership.user)
    return _start(membership, link.preset, Via.LINK, link, title=title, variables=variables or {})


def _start(
    membership: Membership, preset: Preset, via: str, link: PresetLink | None, *, title: str, variables: dict[str, Any]
) -> Conversation:
    """Refused before anything is stored if the caller's organisation could not run the version."""
    resolved = resolve_for_conversation(
        membership=membership,
        preset_id=preset.pk,
        version=None,
        values=variables,
        via=via,
        link_id=link.pk if link else None,
    )
    controls = controls_for(membership.org.settings)
    check_model(controls, resolved.model)
    content = {"model": resolved.model, "params": resolved.params, "policy": resolved.policy}
    check_context_budget(controls, {**content, "system_prompt": resolved.system_prompt})
    conversation = Conversation.objects.create(
        org=membership.org,
        user=membership.user,
        title=title,
        preset=preset,
        preset_version=resolved.version,
        variables=variables,
        preset_via=via,
        preset_link=link,
    )
    audit.record(
        org=membership.org,
        actor=membership.user,
        action="conversation.created",
        target=conversation,
        payload={"preset": str(preset.pk), "preset_version": resolved.version, "via": via},
    )
    return conversation
