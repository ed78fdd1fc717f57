"""A reviewer moves and deletes labels on a preset's page in a real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from presets.labels import label_version
from presets.models import PresetLabel
from tenancy.models import Role
from tests.experiments_world import approved_preset
from tests.factories import MembershipFactory
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reviewer_moves_staging_and_deletes_a_custom_label(page, context, live_ui, acme, alice, tmp_path) -> None:
    reviewer = MembershipFactory(org=acme, role=Role.APPROVER).user
    preset = approved_preset(acme, alice, "labelled", reviewer, versions=2)
    sign_in(context, live_ui, reviewer)
    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/")
    labels = page.get_by_role("region", name="Labels")

    labels.get_by_label("Move label").fill("staging")
    labels.get_by_label("to", exact=True).select_option("1")
    labels.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Label staging now points at version 1")
    staging = labels.get_by_role("row").filter(has=page.locator("code", has_text="staging"))
    assert "v1" in staging.inner_text()
    assert reviewer.username in staging.inner_text()
    assert label_version(preset=preset, name="staging") == 1
    screenshot(page, "preset-labels", tmp_path)

    labels.get_by_role("button", name="Delete label staging").click()
    expect(page.get_by_role("status")).to_contain_text("Label staging is deleted")
    expect(labels.locator("code", has_text="staging")).to_have_count(0)
    assert not PresetLabel.objects.filter(preset=preset, name="staging").exists()
    assert "production" in labels.inner_text()  # the implicit default stays
