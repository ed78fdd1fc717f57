"""Experiments through the API and services: drafts, review rights, frozen splits, joining, results."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets.errors import InvalidState
from conversations import services as conversations
from conversations.models import Conversation, Message
from presets.experiments import services
from presets.experiments.models import Experiment, ExperimentStatus
from tenancy.models import Membership, Role
from tests.experiments_world import (
    ExperimentWorld,
    approved_preset,
    build_experiment_world,
    record_answers,
    two_variants,
)
from tests.factories import MembershipFactory
from tests.presets.conftest import url


@pytest.fixture
def world(acme, alice) -> ExperimentWorld:
    return build_experiment_world(acme, alice)


def body(world: ExperimentWorld, **changes: Any) -> dict[str, Any]:
    variants = [
        {"name": "a", "version": 1, "weight": 1},
        {"name": "b", "preset": str(world.preset.pk), "version": 2, "weight": 3},
    ]
    return {"name": "Tone", "preset": str(world.other.pk), "variants": variants, **changes}


def test_a_writer_drafts_an_experiment_and_it_is_audited(api, world, alice) -> None:
    response = api(alice).post(url("experiment-list"), body(world, traffic_share=0.5), format="json")
    assert response.status_code == 201, response.json()
    found = response.json()
    assert found["status"] == "draft"
    assert [(v["name"], v["version"], v["weight"]) for v in found["variants"]] == [("a", 1, 1), ("b", 2, 3)]
    assert AuditEvent.objects.filter(action="experiment.created", target_id=found["id"]).exists()


@pytest.mark.parametrize(
    ("variants", "status", "code"),
    [
        ([{"name": "a", "version": 1, "weight": 1}], 400, "invalid"),
        (
            [{"name": "a", "version": 1, "weight": 1}, {"name": "b", "version": 9, "weight": 1}],
            409,
            "preset_not_approved",
        ),
        ([{"name": "a", "version": 1, "weight": 1}, {"name": "b", "version": 1, "weight": 0}], 400, "invalid"),
        ([{"name": "a", "version": 1, "weight": 1}, {"name": "a", "version": 1, "weight": 1}], 409, "already_exists"),
    ],
    ids=["one-variant", "unapproved-version", "zero-weight", "same-name"],
)
def test_invalid_variants_are_refused(api, world, alice, variants, status, code) -> None:
    response = api(alice).post(url("experiment-list"), body(world, variants=variants), format="json")
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert not Experiment.objects.filter(name="Tone").exists()


def test_another_organisations_preset_is_no_variant(api, world, alice, globex) -> None:
    foreign = approved_preset(globex, MembershipFactory(org=globex).user, "theirs", _reviewer(globex))
    variants = [
        {"name": "a", "version": 1, "weight": 1},
        {"name": "b", "preset": str(foreign.pk), "version": 1, "weight": 1},
    ]
    response = api(alice).post(url("experiment-list"), body(world, variants=variants), format="json")
    assert response.status_code == 404  # the same answer as a preset that does not exist
    assert response.json()["error"]["details"]["index"] == 1


def test_weights_and_variants_are_frozen_while_running(api, world, alice) -> None:
    running = url("experiment-detail", pk=world.running.pk)
    variants = [{"name": "a", "version": 1, "weight": 1}, {"name": "b", "version": 2, "weight": 5}]
    refused = api(alice).patch(running, {"variants": variants}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "experiment_frozen"
    assert api(alice).patch(running, {"traffic_share": 0.2}, format="json").status_code == 409
    assert [v.weight for v in world.running.variants.all()] == [1, 1]
    renamed = api(alice).patch(running, {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed"


def test_a_draft_may_change_its_weights(api, world, alice) -> None:
    variants = [
        {"name": "a", "version": 1, "weight": 2},
        {"name": "b", "preset": str(world.preset.pk), "version": 1, "weight": 1},
    ]
    response = api(alice).patch(url("experiment-detail", pk=world.draft.pk), {"variants": variants}, format="json")
    assert response.status_code == 200, response.json()
    assert [v["weight"] for v in response.json()["variants"]] == [2, 1]


def test_starting_needs_review_rights(api, world, bob) -> None:
    refused = api(bob).post(url("experiment-start", pk=world.draft.pk))
    assert refused.status_code == 403
    started = api(world.reviewer).post(url("experiment-start", pk=world.draft.pk))
    assert started.status_code == 200
    assert started.json()["status"] == "running"
    assert AuditEvent.objects.filter(action="experiment.started", target_id=str(world.draft.pk)).exists()


def test_one_live_experiment_per_preset(api, world, alice) -> None:
    second = services.experiment_create(
        org=world.preset.org,
        preset=world.preset,
        actor=alice,
        name="Again",
        variants=two_variants(world.preset, world.preset, (1, 2)),
    )
    response = api(world.reviewer).post(url("experiment-start", pk=second.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "experiment_already_active"


def test_pause_resume_and_stop_are_audited(api, world) -> None:
    client, pk = api(world.reviewer), world.running.pk
    assert client.post(url("experiment-pause", pk=pk)).json()["status"] == "paused"
    assert client.post(url("experiment-start", pk=pk)).json()["status"] == "running"
    assert client.post(url("experiment-stop", pk=pk)).json()["status"] == "stopped"
    assert client.post(url("experiment-start", pk=pk)).status_code == 409
    actions = AuditEvent.objects.filter(target_id=str(pk)).values_list("action", flat=True)
    assert {"experiment.paused", "experiment.resumed", "experiment.stopped"} <= set(actions)


def test_only_drafts_are_deleted(api, world, alice) -> None:
    assert api(alice).delete(url("experiment-detail", pk=world.running.pk)).status_code == 409
    assert api(alice).delete(url("experiment-detail", pk=world.draft.pk)).status_code == 204
    assert not Experiment.objects.filter(pk=world.draft.pk).exists()


def test_a_new_conversation_joins_the_running_experiment_and_sticks(acme, alice, world) -> None:
    membership = Membership.objects.get(org=acme, user=alice)
    first = conversations.conversation_create(membership=membership, preset=world.preset)
    again = conversations.conversation_create(membership=membership, preset=world.preset)
    assert first.experiment_id == again.experiment_id == world.running.pk
    assert first.experiment_variant_id == again.experiment_variant_id  # the unit is the person
    assert first.preset_version == first.experiment_variant.version
    pinned = conversations.conversation_create(membership=membership, preset=world.preset, preset_version=1)
    assert pinned.experiment_id is None  # a pinned version is not the preset's traffic


def test_the_context_inspector_shows_experiment_and_variant(api, acme, alice, world) -> None:
    membership = Membership.objects.get(org=acme, user=alice)
    conversation = conversations.conversation_create(membership=membership, preset=world.preset)
    found = api(alice).get(url("conversation-context", pk=conversation.pk)).json()
    assert found["experiment"] == {
        "id": str(world.running.pk),
        "name": "Running",
        "status": "running",
        "variant": conversation.experiment_variant.name,
    }


def test_a_paused_experiment_takes_no_new_conversations(acme, alice, world) -> None:
    services.experiment_pause(experiment=world.running, actor=world.reviewer)
    membership = Membership.objects.get(org=acme, user=alice)
    assert conversations.conversation_create(membership=membership, preset=world.preset).experiment_id is None


def test_results_count_what_each_variant_measured(api, acme, alice, world) -> None:
    variants = list(world.running.variants.order_by("position"))
    record_answers(acme, alice, world.running, variants[0], ups=3, downs=1, failed=1)
    record_answers(acme, alice, world.running, variants[1], ups=1, downs=3, failed=0)
    found = api(alice).get(url("experiment-results", pk=world.running.pk)).json()
    control, candidate = found["variants"]
    assert control["counts"] | {"cost": None} == {
        "units": 1,
        "conversations": 1,
        "turns": 5,
        "thumbs_up": 3,
        "thumbs_down": 1,
        "regenerates": 0,
        "errors": 1,
        "tokens": 5 * 30,
        "cost": None,
    }
    assert control["metrics"]["thumbs_up_rate"]["value"] == pytest.approx(0.75)
    assert candidate["metrics"]["thumbs_up_rate"]["value"] == pytest.approx(0.25)
    assert control["metrics"]["error_rate"]["value"] == pytest.approx(0.2)
    assert candidate["primary"]["judgement"] == "not_enough_data"
    assert found["verdict"]["status"] == "not_enough_data"


def test_results_count_errors_and_regenerations_as_the_presets_analytics_do(api, acme, alice, world) -> None:
    control = world.running.variants.order_by("position").first()
    record_answers(acme, alice, world.running, control, ups=1, downs=0, failed=1)
    conversation = Conversation.objects.get(experiment_variant=control)
    common = {"org": acme, "conversation": conversation, "role": "assistant", "content": "a"}
    Message.objects.create(seq=10, status="interrupted", turn_kind="new", **common)  # broke off: an error
    Message.objects.create(seq=11, status="complete", turn_kind="regenerate", **common)
    counts = api(alice).get(url("experiment-results", pk=world.running.pk)).json()["variants"][0]["counts"]
    assert (counts["turns"], counts["errors"], counts["regenerates"]) == (4, 2, 1)


def test_results_of_another_organisation_are_404(api, world, carol) -> None:
    response = api(carol).get(url("experiment-results", org="acme", pk=world.running.pk))
    assert response.status_code == 404


def test_promote_needs_review_rights_and_moves_the_label(api, world, bob) -> None:
    pytest.importorskip("presets.labels")
    from presets.labels import label_version

    refused = api(bob).post(url("experiment-promote", pk=world.running.pk), {"variant": "b"}, format="json")
    assert refused.status_code == 403
    promoted = api(world.reviewer).post(url("experiment-promote", pk=world.running.pk), {"variant": "b"}, format="json")
    assert promoted.status_code == 200, promoted.json()
    assert promoted.json()["status"] == ExperimentStatus.STOPPED
    assert promoted.json()["promoted_variant"] == "b"
    assert label_version(preset=world.preset, name="production") == 2
    assert AuditEvent.objects.filter(action="experiment.promoted", target_id=str(world.running.pk)).exists()


def test_a_variant_of_another_preset_is_not_promoted(world) -> None:
    services.experiment_start(experiment=world.draft, actor=world.reviewer)
    with pytest.raises(InvalidState):
        services.experiment_promote(experiment=world.draft, actor=world.reviewer, variant_name="b")


def _reviewer(org) -> Any:
    return MembershipFactory(org=org, role=Role.APPROVER).user


def test_the_admin_shows_experiments_read_only(client, world, alice) -> None:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    assert client.get(reverse("admin:presets_experiment_changelist")).status_code == 200
    page = client.get(reverse("admin:presets_experiment_change", args=[world.running.pk]))
    assert page.status_code == 200
    assert b'name="name"' not in page.content  # no editable field
    assert client.post(reverse("admin:presets_experiment_delete", args=[world.running.pk])).status_code == 403


def test_a_patch_replaces_variants_whole(api, world, alice) -> None:
    response = api(alice).patch(
        url("experiment-detail", pk=world.draft.pk), {"variants": [{"name": "a"}, {"name": "b"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def started_on_other(world: ExperimentWorld, actor: Any, **fields: Any) -> Experiment:
    """A running experiment on `other`: control other v1 ("a"), candidate preset v1 ("b")."""
    experiment = services.experiment_create(
        org=world.other.org, preset=world.other, actor=actor, variants=two_variants(world.other, world.preset), **fields
    )
    return services.experiment_start(experiment=experiment, actor=world.reviewer)


def test_units_outside_the_traffic_share_keep_the_preset_as_asked(acme, alice, world) -> None:
    started_on_other(world, alice, name="Nobody", traffic_share=0.0)
    membership = Membership.objects.get(org=acme, user=alice)
    conversation = conversations.conversation_create(membership=membership, preset=world.other)
    assert (conversation.experiment_id, conversation.preset_id, conversation.preset_version) == (
        None,
        world.other.pk,
        None,
    )


def test_a_per_conversation_experiment_assigns_each_conversation(acme, alice, world) -> None:
    started_on_other(world, alice, name="Each", unit="conversation")
    membership = Membership.objects.get(org=acme, user=alice)
    names = {
        conversations.conversation_create(membership=membership, preset=world.other).experiment_variant.name
        for _ in range(20)
    }
    assert names == {"a", "b"}  # one person, both variants: 2 ** -19 odds of a false failure
