"""Presets of one organisation in every state a route can address."""

from __future__ import annotations

from dataclasses import dataclass

from chatpresets.llm.catalogue import default_model
from presets.models import Library, Preset, PresetLabel, PresetLink, Scope
from presets.services import lifecycle, review, sharing
from tenancy.models import Organization, User
from tests.factories import MembershipFactory, UserFactory


@dataclass
class PresetWorld:
    own: Preset  # private, owned by the caller, two versions, shared with `spare`, one link, label `staging`
    draft: Preset  # org scope, caller's, never submitted
    pending: Preset  # org scope, someone else's, version 1 pending review
    trashed: Preset  # caller's, in the trash
    link: PresetLink
    library: Library


def make_preset(org: Organization, owner: User, slug: str, **kwargs: object) -> Preset:
    return lifecycle.preset_create(
        org=org,
        actor=owner,
        name=slug.title(),
        slug=slug,
        system_prompt=f"You are {slug}.",
        model=default_model(),
        **kwargs,
    )


def build_preset_world(org: Organization, caller: User, spare: User) -> PresetWorld:
    suffix = caller.pk
    own = make_preset(org, caller, f"own-{suffix}")
    own = lifecycle.preset_update(preset=own, actor=caller, system_prompt="You are own, version two.")
    sharing.share_grant(preset=own, actor=caller, level="view", user=spare)
    PresetLabel.objects.create(org=org, preset=own, name="staging", version=1, moved_by=caller)
    link, _ = sharing.link_create(
        preset=own, actor=caller, level="view", audience="org", expires_at=None, max_uses=None
    )
    draft = make_preset(org, caller, f"draft-{suffix}", scope=Scope.ORG)
    author = MembershipFactory(org=org).user
    pending = make_preset(org, author, f"pending-{suffix}", scope=Scope.ORG)
    review.preset_submit(preset=pending, actor=author)
    trashed = lifecycle.preset_delete(preset=make_preset(org, caller, f"trashed-{suffix}"), actor=caller)
    library = Library.objects.create(org=org, name=f"Lib {suffix}", owner=caller)
    return PresetWorld(own=own, draft=draft, pending=pending, trashed=trashed, link=link, library=library)


def gallery_tutor(org: Organization, owner: User) -> Preset:
    """A public preset whose version 2 is in the gallery and whose version 3 is a draft nobody outside sees."""
    approver = MembershipFactory(org=org, role="approver").user
    staff = UserFactory(is_staff=True)
    preset = make_preset(org, owner, "tutor", scope=Scope.PUBLIC, description="Explains one subject.")
    preset = lifecycle.preset_update(
        preset=preset,
        actor=owner,
        system_prompt="Teach {{subject}} simply.",
        variables=[{"name": "subject", "required": True}],
        params={"max_tokens": 40},
        policy={"daily_token_budget": 100_000},
    )
    review.preset_submit(preset=preset, actor=owner)
    review.preset_approve(preset=preset, actor=approver, number=2)
    review.preset_staff_approve_public(preset=preset, staff=staff, number=2)
    return lifecycle.preset_update(preset=preset, actor=owner, system_prompt="Owner's unpublished draft.")
