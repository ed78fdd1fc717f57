"""What the conversation layer gets when it asks for a preset at a version."""

from __future__ import annotations

import pytest

from chatpresets.errors import InvalidInput, NotFound, PresetNotApproved
from presets.resolve import resolve_for_conversation
from presets.services import lifecycle, review, sharing
from tests.factories import MembershipFactory
from tests.presets_world import make_preset

VARIABLES = [{"name": "topic", "required": True}, {"name": "tone", "default": "plain"}]


@pytest.fixture
def org_preset(acme, bob):
    approver = MembershipFactory(org=acme, role="approver").user
    preset = make_preset(acme, bob, "explainer", scope="org")
    preset = lifecycle.preset_update(
        preset=preset, actor=bob, system_prompt="Explain {{topic}} in a {{ tone }} way.", variables=VARIABLES
    )
    review.preset_submit(preset=preset, actor=bob)
    review.preset_approve(preset=preset, actor=approver, number=2)
    lifecycle.preset_update(preset=preset, actor=bob, system_prompt="Draft {{topic}} {{tone}}.")
    return preset, approver


def resolve(user, org, preset, version=None, values=None, **kwargs):
    return resolve_for_conversation(
        membership=user.memberships.get(org=org),
        preset_id=preset.pk,
        version=version,
        values=values if values is not None else {"topic": "tides"},
        **kwargs,
    )


def test_latest_approved_is_used_while_a_newer_version_waits(alice, acme, org_preset) -> None:
    preset, _ = org_preset
    reader = MembershipFactory(org=acme).user
    resolved = resolve(reader, acme, preset)
    assert (resolved.version, resolved.system_prompt, resolved.prompt_visible) == (
        2,
        "Explain tides in a plain way.",
        True,
    )


def test_pinned_unapproved_version_is_only_for_editors(acme, bob, org_preset) -> None:
    preset, _ = org_preset
    reader = MembershipFactory(org=acme).user
    with pytest.raises(PresetNotApproved):
        resolve(reader, acme, preset, version=3)
    assert resolve(bob, acme, preset, version=3).system_prompt == "Draft tides plain."


def test_missing_required_variable_is_named(acme, bob, org_preset) -> None:
    preset, _ = org_preset
    with pytest.raises(InvalidInput) as error:
        resolve(bob, acme, preset, values={})
    assert error.value.details["missing_variables"] == ["topic"]


def test_use_grant_gets_the_prompt_for_the_model_but_not_to_show(acme, alice, bob) -> None:
    preset = make_preset(acme, alice, "secret")
    sharing.share_grant(preset=preset, actor=alice, level="use", user=bob)
    resolved = resolve(bob, acme, preset, values={})
    assert (resolved.system_prompt, resolved.prompt_visible) == ("You are secret.", False)


def test_trashed_preset_serves_existing_conversations_only(acme, alice) -> None:
    preset = lifecycle.preset_delete(preset=make_preset(acme, alice, "gone"), actor=alice)
    with pytest.raises(NotFound):
        resolve(alice, acme, preset, version=1, values={})
    assert resolve(alice, acme, preset, version=1, values={}, existing=True).version == 1


def test_other_organisations_cannot_resolve(acme, alice, carol, globex) -> None:
    preset = make_preset(acme, alice, "acme-only")
    with pytest.raises(NotFound):
        resolve_for_conversation(
            membership=carol.memberships.get(org=globex), preset_id=preset.pk, version=None, values={}
        )


def test_draft_without_approval_is_refused_to_readers(acme, bob) -> None:
    preset = make_preset(acme, bob, "draft-only", scope="org")
    approver = MembershipFactory(org=acme, role="approver").user
    with pytest.raises(PresetNotApproved):
        resolve(approver, acme, preset, values={})
