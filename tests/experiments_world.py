"""Experiments of one organisation in the states a route can address (tests/routes.py) and tests use."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from conversations.models import Conversation, Feedback, Message
from presets.experiments import services
from presets.experiments.models import Experiment, ExperimentVariant
from presets.models import Preset, Scope
from presets.services import lifecycle, review
from tenancy.models import Organization, Role, User
from tests.factories import MembershipFactory
from tests.presets_world import make_preset


@dataclass
class ExperimentWorld:
    preset: Preset  # org scope, versions 1 and 2 approved, owned by the caller
    other: Preset  # org scope, version 1 approved, owned by the caller
    draft: Experiment  # on `other`: control other v1, candidate preset v1
    running: Experiment  # on `preset`: control v1 ("a"), candidate v2 ("b")
    reviewer: User


def approved_preset(org: Organization, owner: User, slug: str, reviewer: User, versions: int = 1) -> Preset:
    """An organisation-wide preset whose versions 1..`versions` were each approved by `reviewer`."""
    preset = make_preset(org, owner, slug, scope=Scope.ORG)
    review.preset_submit(preset=preset, actor=owner)
    review.preset_approve(preset=preset, actor=reviewer, number=1)
    for number in range(2, versions + 1):
        preset = lifecycle.preset_update(preset=preset, actor=owner, system_prompt=f"You are {slug}, v{number}.")
        review.preset_approve(preset=preset, actor=reviewer, number=number)
    return Preset.objects.get(pk=preset.pk)


def two_variants(control: Preset, candidate: Preset, versions: tuple[int, int] = (1, 1)) -> list[dict]:
    return [
        {"name": "a", "preset": control, "version": versions[0], "weight": 1},
        {"name": "b", "preset": candidate, "version": versions[1], "weight": 1},
    ]


def build_experiment_world(org: Organization, caller: User) -> ExperimentWorld:
    reviewer = MembershipFactory(org=org, role=Role.APPROVER).user
    suffix = caller.pk
    preset = approved_preset(org, caller, f"ab-{suffix}", reviewer, versions=2)
    other = approved_preset(org, caller, f"ab-other-{suffix}", reviewer)
    draft = services.experiment_create(
        org=org, preset=other, actor=caller, name="Draft", variants=two_variants(other, preset)
    )
    running = services.experiment_create(
        org=org, preset=preset, actor=caller, name="Running", variants=two_variants(preset, preset, (1, 2))
    )
    running = services.experiment_start(experiment=running, actor=reviewer)
    return ExperimentWorld(preset=preset, other=other, draft=draft, running=running, reviewer=reviewer)


def record_answers(
    org: Organization,
    user: User,
    experiment: Experiment,
    variant: ExperimentVariant,
    *,
    ups: int,
    downs: int,
    failed: int,
) -> None:
    """One conversation in `variant` with a question and answer per vote, plus failed answers."""
    conversation = Conversation.objects.create(
        org=org, user=user, preset=variant.preset, experiment=experiment, experiment_variant=variant
    )
    votes = ["up"] * ups + ["down"] * downs + [None] * failed
    for index, vote in enumerate(votes):
        Message.objects.create(org=org, conversation=conversation, seq=2 * index + 1, role="user", content="q")
        answer = Message.objects.create(
            org=org,
            conversation=conversation,
            seq=2 * index + 2,
            role="assistant",
            content="a",
            status="complete" if vote else "failed",
            prompt_tokens=20,
            completion_tokens=10,
            cost=Decimal("0.001"),
            ttft_ms=100 + index,
        )
        if vote:
            Feedback.objects.create(org=org, message=answer, user=user, vote=vote)
