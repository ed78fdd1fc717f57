"""Turning "preset X at version N (or the newest approved)" into the prompt a conversation sends.

Conversations call only this module for a preset's content (and presets.outside to start from the
gallery or a link). A conversation created while a preset of its own organisation was alive keeps
working on its pinned version after the preset is trashed; a new conversation needs a live one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatpresets.errors import InvalidInput, NotFound, PresetNotApproved
from presets import row_copies
from presets.content import render_prompt
from presets.labels import LabelNotFound, label_version
from presets.models import Preset, PresetVersion, Status
from presets.outside import is_published, outside_grant, published_version
from presets.selectors import Access, preset_access, version_content
from tenancy.models import Membership


@dataclass(frozen=True)
class ResolvedPreset:
    preset_id: Any
    version: int
    system_prompt: str
    model: str
    params: dict[str, Any]
    policy: dict[str, Any]
    prompt_visible: bool


def resolve_for_conversation(
    *,
    membership: Membership,
    preset_id: Any,
    version: int | None,
    values: dict[str, Any],
    existing: bool = False,
    via: str = "",
    link_id: Any = None,
    preset: Preset | None = None,
    label: str = "",
) -> ResolvedPreset:
    """The rendered prompt and settings of the pinned version, or of the newest approved one.

    Callers with `use` access get the prompt for the model but `prompt_visible` is False, so
    nothing shows it to them. Unapproved versions are only for those who may edit the preset.
    `via` names the route to a preset of another organisation (presets.outside): it grants only
    what that route shows, while it stands, and never a trashed preset. `preset` is the row of
    `preset_id` when the caller has just read it (the same row is not read twice). `label` (own
    organisation only) names a label of the preset, read now: a conversation following it gets each
    move at its next turn, and a deleted label is `label_not_found`.
    """
    if via and label:
        raise InvalidInput("Labels are for presets of your own organisation.", details={"field": "preset_label"})
    if via:
        preset, access, number = _reached_from_outside(membership, preset_id, version, via, link_id)
    else:
        preset, access, number = _of_own_org(membership, preset_id, version, existing, preset, label)
    return _rendered(preset, number, values, prompt_visible=access >= Access.VIEW)


def _rendered(preset: Preset, number: int, values: dict[str, Any], *, prompt_visible: bool) -> ResolvedPreset:
    content = version_content(preset_id=preset.pk, number=number)
    if content is None:
        raise NotFound(f"Version {number} does not exist.")
    prompt = render_prompt(content["system_prompt"], content["variables"], values)
    return ResolvedPreset(
        preset_id=preset.pk,
        version=number,
        system_prompt=prompt,
        model=content["model"],
        params=content["params"],
        policy=content["policy"],
        prompt_visible=prompt_visible,
    )


def _of_own_org(
    membership: Membership,
    preset_id: Any,
    version: int | None,
    existing: bool,
    read: Preset | None = None,
    label: str = "",
) -> tuple[Preset, Access, int]:
    if _is_row_of(read, membership, preset_id, existing):
        preset = read
    else:
        preset = row_copies.own(membership.org, preset_id, trashed_too=existing)
    access = preset_access(preset=preset, membership=membership) if preset else Access.NONE
    if access < Access.USE:
        raise NotFound()
    if label:
        version = _labelled(preset, label)
    number = version if version is not None else preset.approved_version
    if number is None:
        if access < Access.EDIT:
            raise PresetNotApproved()
        number = preset.version
    if not _usable(preset, number, access):
        raise _not_approved(number)
    return preset, access, number


def _labelled(preset: Preset, label: str) -> int:
    number = label_version(preset=preset, name=label)
    if number is None:
        raise LabelNotFound(f"Preset {preset.slug!r} has no label {label!r}.", details={"label": label})
    return number


def _is_row_of(read: Preset | None, membership: Membership, preset_id: Any, existing: bool) -> bool:
    """Whether `read` is the row `_of_own_org` would read: the same preset, this organisation's, live
    unless `existing`."""
    if read is None or read.pk != preset_id or read.org_id != membership.org_id:
        return False
    return existing or read.deleted_at is None


def _reached_from_outside(
    membership: Membership, preset_id: Any, version: int | None, via: str, link_id: Any
) -> tuple[Preset, Access, int]:
    preset, access = outside_grant(preset_id=preset_id, via=via, link_id=link_id, user=membership.user)
    number = version if version is not None else published_version(preset, via)
    if number is None:
        raise PresetNotApproved()
    if not is_published(preset, via, number):
        raise _not_approved(number)
    return preset, access, number


def _not_approved(number: int) -> PresetNotApproved:
    return PresetNotApproved(f"Version {number} of this preset is not approved.", details={"version": number})


def _usable(preset: Preset, number: int, access: Access) -> bool:
    if access >= Access.EDIT:
        return number <= preset.version
    return PresetVersion.objects.filter(preset=preset, number=number, status=Status.APPROVED).exists()


def resolve_for_review(*, preset: Preset, version: int, values: dict[str, Any]) -> ResolvedPreset:
    """Version `version` rendered for a replay by someone who may review the preset (checked by the
    caller): approved or in review, whatever the reviewer's own access to drafts."""
    return _rendered(preset, version, values, prompt_visible=True)
