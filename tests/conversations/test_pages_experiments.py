"""The experiments page's create form: the API's rules, refusals shown in the form, nothing drafted on error."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEvent
from presets.experiments.models import Experiment, ExperimentStatus
from tenancy.models import Role
from tests.experiments_world import ExperimentWorld, approved_preset, build_experiment_world
from tests.factories import MembershipFactory
from tests.presets.pages import page, signed_in


@pytest.fixture
def world(acme, alice) -> ExperimentWorld:
    return build_experiment_world(acme, alice)


def form(world: ExperimentWorld, **changes: Any) -> dict[str, Any]:
    """Variant a: the experiment's preset v1; b: another preset's v2, three times as often."""
    return {
        "name": "Tone",
        "preset": str(world.other.pk),
        "label": "",
        "traffic_share": "0.5",
        "unit": "conversation",
        "primary_metric": "error_rate",
        "guardrail_metrics": ["ttft_ms", "cost_per_turn"],
        "variant-0-name": "a",
        "variant-0-preset": "",
        "variant-0-version": "1",
        "variant-0-weight": "1",
        "variant-1-name": "b",
        "variant-1-preset": str(world.preset.pk),
        "variant-1-version": "2",
        "variant-1-weight": "3",
        **changes,
    }


def refused(user: Any, world: ExperimentWorld, status: int, **changes: Any) -> str:
    before = Experiment.objects.count()
    response = signed_in(user).post(page("experiment-create-page"), form(world, **changes))
    assert response.status_code == status
    assert Experiment.objects.count() == before
    return response.content.decode()


def test_a_writer_drafts_an_experiment_in_the_form(world, alice) -> None:
    response = signed_in(alice).post(page("experiment-create-page"), form(world))
    experiment = Experiment.objects.get(name="Tone")
    assert response.status_code == 302
    assert response["Location"] == page("experiment-page", pk=experiment.pk)
    assert (experiment.preset, experiment.status, experiment.traffic_share) == (world.other, "draft", 0.5)
    assert (experiment.unit, experiment.primary_metric) == ("conversation", "error_rate")
    assert sorted(experiment.guardrail_metrics) == ["cost_per_turn", "ttft_ms"]
    variants = [(v.name, v.preset_id, v.version, v.weight) for v in experiment.variants.order_by("position")]
    assert variants == [("a", world.other.pk, 1, 1), ("b", world.preset.pk, 2, 3)]
    assert AuditEvent.objects.filter(action="experiment.created", target_id=str(experiment.pk)).exists()


def test_the_list_offers_the_form_to_writers_only(world, alice, member_with_role) -> None:
    assert 'name="variant-3-version"' in signed_in(alice).get(page("experiments-page")).content.decode()
    viewer = member_with_role(Role.VIEWER)
    assert page("experiment-create-page") not in signed_in(viewer).get(page("experiments-page")).content.decode()


def test_a_zero_weight_is_refused_in_the_form(world, alice) -> None:
    shown = refused(alice, world, 400, **{"variant-1-weight": "0"})
    assert "variant 2 weight" in shown
    assert 'value="Tone"' in shown  # the form keeps what was typed


def test_one_variant_is_refused(world, alice) -> None:
    assert "variants" in refused(alice, world, 400, **{"variant-1-version": ""})


def test_a_version_that_is_not_approved_is_refused(world, alice) -> None:
    shown = refused(alice, world, 409, **{"variant-1-version": "9"})
    assert 'data-code="preset_not_approved"' in shown


def test_another_tenants_preset_is_not_found(world, alice, globex, carol) -> None:
    reviewer = MembershipFactory(org=globex, role=Role.APPROVER).user
    foreign = approved_preset(globex, carol, "foreign", reviewer)
    assert 'data-code="not_found"' in refused(alice, world, 404, preset=str(foreign.pk))
    assert "No such preset" in refused(alice, world, 404, **{"variant-1-preset": str(foreign.pk)})


def test_a_member_who_may_not_edit_the_preset_is_refused(world, bob) -> None:
    assert 'data-code="permission_denied"' in refused(bob, world, 403)


def test_a_viewer_may_not_post_the_form(world, member_with_role) -> None:
    refused(member_with_role(Role.VIEWER), world, 403)


def test_a_draft_from_the_form_starts_like_any_other(world, alice) -> None:
    signed_in(alice).post(page("experiment-create-page"), form(world))
    experiment = Experiment.objects.get(name="Tone")
    started = signed_in(world.reviewer).post(page("experiment-act-page", pk=experiment.pk), {"action": "start"})
    assert started.status_code == 302
    assert Experiment.objects.get(pk=experiment.pk).status == ExperimentStatus.RUNNING
