"""A reviewer starts an experiment, watches its results and promotes the winner, in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from presets.experiments.models import Experiment
from tests.experiments_world import approved_preset, build_experiment_world, record_answers
from tests.ui.browser import screenshot, sign_in
from tests.ui.test_presets_a11y import SCAN

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reviewer_starts_an_experiment_and_sees_its_results(browser, live_ui, acme, alice, tmp_path) -> None:
    world = build_experiment_world(acme, alice)
    context = browser.new_context()
    sign_in(context, live_ui, world.reviewer)
    page = context.new_page()
    page.goto(f"{live_ui}/o/acme/experiments/")
    page.get_by_role("link", name="Draft").click()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{live_ui}/o/acme/experiments/{world.draft.pk}/")
    assert page.locator("[data-experiment-status]").inner_text() == "running"
    assert Experiment.objects.get(pk=world.draft.pk).status == "running"

    variants = list(world.draft.variants.order_by("position"))
    record_answers(acme, alice, world.draft, variants[0], ups=3, downs=1, failed=0)
    record_answers(acme, alice, world.draft, variants[1], ups=1, downs=2, failed=1)
    page.reload()
    thumbs = page.locator('tr[data-variant="a"][data-metric="thumbs_up_rate"]')
    assert "0.7500" in thumbs.inner_text()
    assert "Not enough data yet" in page.locator("[data-verdict]").inner_text()
    screenshot(page, "experiment-results", tmp_path)
    context.close()


def test_a_reviewer_promotes_the_winner(browser, live_ui, acme, alice) -> None:
    pytest.importorskip("presets.labels")
    from presets.labels import label_version

    world = build_experiment_world(acme, alice)
    context = browser.new_context()
    sign_in(context, live_ui, world.reviewer)
    page = context.new_page()
    page.goto(f"{live_ui}/o/acme/experiments/{world.running.pk}/")
    page.get_by_label("Promote").select_option("b")
    page.get_by_role("button", name="Promote and stop").click()
    page.wait_for_url(f"{live_ui}/o/acme/experiments/{world.running.pk}/")
    assert page.locator("[data-experiment-status]").inner_text() == "stopped"
    assert label_version(preset=world.preset, name="production") == 2
    context.close()


def test_an_owner_drafts_starts_measures_and_promotes_an_experiment(live_ui, context, acme, alice, tmp_path) -> None:
    """Alice edits her preset (drafting needs that, as through the API) and, as an owner, reviews it."""
    from presets.labels import label_version

    world = build_experiment_world(acme, alice)
    preset = approved_preset(acme, alice, "whole-way", world.reviewer, versions=2)
    sign_in(context, live_ui, alice)
    page = context.new_page()
    page.goto(f"{live_ui}/o/acme/experiments/")
    page.get_by_text("New experiment").click()
    page.get_by_label("Name", exact=True).fill("Whole way")
    page.get_by_label("Preset", exact=True).select_option(label=preset.name)
    page.get_by_label("Label slot").fill("staging")
    page.get_by_role("group", name="Guardrail metrics").get_by_label("Error rate").check()
    page.get_by_label("Variant 1 version").fill("1")
    page.get_by_label("Variant 2 version").fill("2")
    screenshot(page, "experiment-new", tmp_path)
    page.add_script_tag(url=f"{live_ui}/static/vendor/axe-core/axe.min.js")
    assert page.evaluate(SCAN) == []  # the form: every field named, nothing serious for axe
    page.get_by_role("button", name="Create draft").click()
    page.locator("[data-experiment-status]").wait_for()
    experiment = Experiment.objects.get(name="Whole way")
    assert (experiment.preset_id, experiment.label, experiment.guardrail_metrics) == (
        preset.pk,
        "staging",
        ["error_rate"],
    )
    assert page.locator("[data-experiment-status]").inner_text() == "draft"

    page.get_by_role("button", name="Start").click()
    expect(page.locator("[data-experiment-status]")).to_have_text("running")
    control, candidate = experiment.variants.order_by("position")
    record_answers(acme, alice, experiment, control, ups=40, downs=70, failed=0)
    record_answers(acme, alice, experiment, candidate, ups=90, downs=20, failed=0)
    page.reload()
    assert page.locator("[data-winner]").inner_text() == "b"
    assert "0.8182" in page.locator('tr[data-variant="b"][data-metric="thumbs_up_rate"]').inner_text()
    screenshot(page, "experiment-winner", tmp_path)

    page.get_by_role("button", name="Promote and stop").click()
    expect(page.locator("[data-experiment-status]")).to_have_text("stopped")
    assert label_version(preset=preset, name="staging") == 2
    assert Experiment.objects.get(pk=experiment.pk).promoted_variant == "b"
