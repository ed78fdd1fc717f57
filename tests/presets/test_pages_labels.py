"""The label forms of a preset's page: move and delete through presets.labels' rules, audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from presets.labels import label_version
from presets.models import Preset, PresetLabel
from tenancy.models import Role
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory
from tests.presets.pages import page, signed_in


@pytest.fixture
def tutor(acme, alice, bob) -> Preset:
    """An org preset by bob (a member: he edits it, may not review it), versions 1 and 2 approved by alice."""
    return approved_preset(acme, bob, "tutor", alice, versions=2)


def move(user, preset: Preset, name: str, version: int):
    return signed_in(user).post(page("preset-label-move-page", pk=preset.pk), {"name": name, "version": version})


def delete(user, preset: Preset, name: str):
    kwargs = {"org_slug": "acme", "pk": preset.pk, "name": name}
    return signed_in(user).post(reverse("preset-label-delete-page", kwargs=kwargs))


def moves(preset: Preset) -> list[dict]:
    events = AuditEvent.objects.filter(action="preset.label_moved", target_id=str(preset.pk)).order_by("created_at")
    return [event.payload for event in events]


def test_a_writer_moves_a_custom_label_and_it_is_audited(tutor, bob) -> None:
    assert move(bob, tutor, "canary", 1).status_code == 302
    assert move(bob, tutor, "canary", 2)["Location"] == page("preset-page", pk=tutor.pk)
    assert label_version(preset=tutor, name="canary") == 2
    assert moves(tutor) == [
        {"label": "canary", "before": None, "after": 1},
        {"label": "canary", "before": 1, "after": 2},
    ]
    shown = signed_in(bob).get(page("preset-page", pk=tutor.pk)).content.decode()
    assert "<code>canary</code>" in shown


def test_a_writer_deletes_a_custom_label_and_it_is_audited(tutor, bob) -> None:
    move(bob, tutor, "canary", 1)
    deleted = delete(bob, tutor, "canary")
    assert deleted.status_code == 302
    assert not PresetLabel.objects.filter(preset=tutor, name="canary").exists()
    event = AuditEvent.objects.get(action="preset.label_deleted", target_id=str(tutor.pk))
    assert event.payload == {"label": "canary", "before": 1, "after": None}


def test_production_moves_only_for_a_reviewer(tutor, alice, bob) -> None:
    refused = move(bob, tutor, "production", 1)
    assert refused.status_code == 403
    assert "label_protected" in refused.content.decode()
    assert label_version(preset=tutor, name="production") == 2
    assert moves(tutor) == []
    assert move(alice, tutor, "production", 1).status_code == 302
    assert label_version(preset=tutor, name="production") == 1
    assert moves(tutor) == [{"label": "production", "before": 2, "after": 1}]


def test_an_organisations_protected_label_neither_moves_nor_goes_for_a_writer(acme, tutor, alice, bob) -> None:
    acme.settings = {**acme.settings, "protected_labels": ["stable"]}
    acme.save()
    assert move(bob, tutor, "stable", 1).status_code == 403
    assert not PresetLabel.objects.filter(preset=tutor, name="stable").exists()
    move(alice, tutor, "stable", 1)
    assert delete(bob, tutor, "stable").status_code == 403
    assert label_version(preset=tutor, name="stable") == 1
    assert len(moves(tutor)) == 1


def test_a_version_that_is_not_approved_is_refused(tutor, bob) -> None:
    refused = move(bob, tutor, "canary", 7)
    assert refused.status_code == 409
    assert "label_version_not_approved" in refused.content.decode()
    assert not PresetLabel.objects.filter(preset=tutor).exists()


def test_a_bad_label_name_is_refused(tutor, bob) -> None:
    assert move(bob, tutor, "Not A Label", 1).status_code == 400
    assert not PresetLabel.objects.filter(preset=tutor).exists()


def test_a_viewer_may_not_move_labels(tutor, member_with_role) -> None:
    assert move(member_with_role(Role.VIEWER), tutor, "canary", 1).status_code == 403
    assert not PresetLabel.objects.filter(preset=tutor).exists()


def test_another_tenants_preset_is_not_found(tutor, globex, carol, alice) -> None:
    foreign = approved_preset(globex, carol, "foreign", MembershipFactory(org=globex, role=Role.APPROVER).user)
    assert move(alice, foreign, "canary", 1).status_code == 404
    assert delete(alice, foreign, "canary").status_code == 404
    assert move(carol, tutor, "canary", 1).status_code == 404
    assert not PresetLabel.objects.exists()
