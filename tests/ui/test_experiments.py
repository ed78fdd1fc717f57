"""A reviewer starts an experiment, watches its results and promotes the winner, in the browser."""

from __future__ import annotations

import pytest

from presets.experiments.models import Experiment
from tests.experiments_world import build_experiment_world, record_answers
from tests.ui.browser import screenshot, sign_in

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
