"""A preset in review with things a replay route can address (tests/routes.py) and replay tests use."""

from __future__ import annotations

from dataclasses import dataclass

from conversations.models import Conversation, Message
from conversations.replays.models import PromptSet, Replay, ReplayItem, ReplaySource
from presets.models import Preset
from presets.services import lifecycle
from tenancy.models import Organization, Role, User
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory


@dataclass
class ReplayWorld:
    preset: Preset  # org scope, owned by the caller: version 1 approved, version 2 pending review
    conversation: Conversation  # a member's conversation on the preset: two exchanges
    prompt_set: PromptSet
    queued: Replay  # not started yet (no task ran): it can be read and cancelled
    reviewer: User


def preset_in_review(org: Organization, owner: User, slug: str, reviewer: User) -> Preset:
    """Version 1 approved by `reviewer`, version 2 (a new prompt) pending review."""
    preset = approved_preset(org, owner, slug, reviewer)
    return lifecycle.preset_update(preset=preset, actor=owner, system_prompt=f"You are {slug}, the candidate.")


def conversation_on(preset: Preset, user: User, questions: list[str]) -> Conversation:
    """A conversation on `preset` whose every question has an answer."""
    conversation = Conversation.objects.create(org=preset.org, user=user, preset=preset, title="Asked")
    for index, question in enumerate(questions):
        for seq, role, content in ((2 * index + 1, "user", question), (2 * index + 2, "assistant", f"Answer {index}")):
            Message.objects.create(
                org=preset.org, conversation=conversation, seq=seq, role=role, content=content, token_count=8
            )
    return conversation


def build_replay_world(org: Organization, caller: User) -> ReplayWorld:
    reviewer = MembershipFactory(org=org, role=Role.APPROVER).user
    asker = MembershipFactory(org=org, role=Role.MEMBER).user
    preset = preset_in_review(org, caller, f"replayed-{caller.pk}", reviewer)
    conversation = conversation_on(preset, asker, ["What is a preset?", "And a label?"])
    prompt_set = PromptSet.objects.create(org=org, preset=preset, name="Smoke", prompts=["Hello?"], created_by=caller)
    queued = Replay.objects.create(
        org=org,
        preset=preset,
        candidate_version=2,
        baseline_version=1,
        source=ReplaySource.PROMPT_SET,
        prompt_set=prompt_set,
        token_budget=1000,
        started_by=reviewer,
    )
    ReplayItem.objects.create(org=org, replay=queued, position=1, user_text="Hello?")
    return ReplayWorld(preset, conversation, prompt_set, queued, reviewer)
