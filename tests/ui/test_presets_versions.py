"""A preset's versions in a real chromium: a side-by-side diff of two, then trash and restore."""

from __future__ import annotations

import pytest

from presets.models import Preset
from presets.services import lifecycle
from tests.presets_world import make_preset
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_diffing_two_versions(page, context, live_ui, acme, alice, tmp_path) -> None:
    preset = make_preset(acme, alice, "writer")
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="You are writer.\nBe terse.")
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="You are an editor.\nBe terse.")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/")

    page.get_by_label("Compare").select_option("1")
    page.get_by_label("with").select_option("3")
    page.get_by_role("button", name="Show differences").click()

    page.wait_for_url("**/diff/?a=1&b=3")
    changed = page.locator("tr.diff-changed")
    assert changed.locator("td.diff-left").inner_text().endswith("You are writer.")
    assert changed.locator("td.diff-right").inner_text().endswith("You are an editor.")
    assert page.locator("tr.diff-added td.diff-right").inner_text().endswith("Be terse.")
    screenshot(page, "preset-diff", tmp_path)


def test_trash_and_restore(page, context, live_ui, acme, alice) -> None:
    preset = make_preset(acme, alice, "writer")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/")

    page.get_by_role("button", name="Move to trash").click()
    page.wait_for_url(f"{live_ui}/o/acme/presets/")
    assert "Writer is in the trash" in page.get_by_role("status").inner_text()
    page.get_by_role("link", name="Trash").click()
    page.get_by_role("button", name="Restore Writer").click()

    page.wait_for_url(f"{live_ui}/o/acme/presets/{preset.pk}/")
    preset.refresh_from_db()
    assert preset.deleted_at is None
    assert Preset.objects.filter(pk=preset.pk, deleted_at__isnull=True).exists()
