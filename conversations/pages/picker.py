"""The preset picker of a new chat: the presets the caller sees, grouped as the caller thinks of them
(mine, my teams', the organisation's, public, shared with me), each saying whether it can start a chat.

Visibility, search and access are presets' own selectors; "can start" follows presets.resolve (an
approved version, or the right to edit) and the organisation's allowed models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models.functions import Lower

from chatpresets.llm.cost_controls import controls_for
from presets.labels import LabelView, labels_of
from presets.models import Preset, Scope
from presets.search import search
from presets.selectors import (
    Access,
    preset_access,
    preset_for_caller,
    preset_ids_shared_with,
    preset_list_visible,
    version_content,
)
from tenancy.models import Membership

PICKER_SIZE = 100
GROUPS = (
    ("mine", "Mine"),
    ("team", "Team"),
    ("org", "Organisation"),
    ("public", "Public"),
    ("shared", "Shared with me"),
)
NOT_APPROVED = "Not approved yet: it can start chats once an approver approves a version."
MODEL_NOT_ALLOWED = "Its model is not allowed in this organisation."


@dataclass(frozen=True)
class PickerItem:
    preset: Preset
    blocked: str  # why it cannot start a chat, or ""


@dataclass(frozen=True)
class PickerGroup:
    key: str
    label: str
    items: list[PickerItem]


@dataclass(frozen=True)
class Picker:
    groups: list[PickerGroup]
    query: str
    truncated: bool


def _visible(membership: Membership, query: str) -> list[Preset]:
    presets = preset_list_visible(membership=membership).select_related("team")
    if query.strip():
        ordered = search(presets, query).order_by("-rank", Lower("name"), "pk")
    else:
        ordered = presets.order_by(Lower("name"), "pk")
    return list(ordered[: PICKER_SIZE + 1])


def blocked_reason(preset: Preset, membership: Membership, *, allowed: Any) -> str:
    if not allowed(preset.model):
        return MODEL_NOT_ALLOWED
    if preset.approved_version is None and preset_access(preset=preset, membership=membership) < Access.EDIT:
        return NOT_APPROVED
    return ""


def build_picker(membership: Membership, *, query: str = "") -> Picker:
    presets = _visible(membership, query)
    shared = preset_ids_shared_with(membership=membership, among=[p.pk for p in presets[:PICKER_SIZE]])
    allowed = controls_for(membership.org.settings).allows
    grouped: dict[str, list[PickerItem]] = {key: [] for key, _ in GROUPS}
    for preset in presets[:PICKER_SIZE]:
        if preset.owner_id == membership.user_id:
            key = "mine"
        elif preset.pk in shared or preset.scope == Scope.PRIVATE:
            key = "shared"
        else:
            key = preset.scope
        grouped[key].append(PickerItem(preset, blocked_reason(preset, membership, allowed=allowed)))
    groups = [PickerGroup(key, label, grouped[key]) for key, label in GROUPS if grouped[key]]
    return Picker(groups=groups, query=query, truncated=len(presets) > PICKER_SIZE)


@dataclass(frozen=True)
class Choice:
    """A picked preset: the version a new chat would run, and that version's variables."""

    preset: Preset
    version: int | None
    can_follow: bool
    variables: list[dict[str, Any]]
    blocked: str
    labels: list[LabelView]  # a chat may follow one of these instead of a pinned version


def choose(membership: Membership, preset_id: Any) -> Choice:
    """The preset if the caller may use it (else presets' NotFound), at its newest approved version
    (the newest one for editors of a preset never approved)."""
    preset, access = preset_for_caller(membership=membership, preset_id=preset_id)
    number = preset.approved_version
    if number is None and access >= Access.EDIT:
        number = preset.version
    content = version_content(preset_id=preset.pk, number=number) if number is not None else None
    allowed = controls_for(membership.org.settings).allows
    if content is None:
        blocked = NOT_APPROVED
    elif not allowed(content["model"]):
        blocked = MODEL_NOT_ALLOWED
    else:
        blocked = ""
    return Choice(
        preset=preset,
        version=number,
        can_follow=preset.approved_version is not None,
        variables=content["variables"] if content else [],
        blocked=blocked,
        labels=labels_of(preset=preset),
    )
