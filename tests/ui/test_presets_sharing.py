"""A share link created in the share dialog, opened by a user of another organisation and cloned."""

from __future__ import annotations

import pytest

from presets.models import Preset
from tests.presets_world import make_preset
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_link_opened_in_another_browser_is_cloned(
    browser, context, page, live_ui, acme, alice, carol, tmp_path
) -> None:
    preset = make_preset(acme, alice, "haiku", description="Short poems")
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/share/")
    page.get_by_label("Audience").select_option("any_signed_in_user")
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("New share link").input_value()
    screenshot(page, "preset-share", tmp_path)
    assert page.locator("table.links tbody td").nth(2).inner_text() == "0"  # not opened yet

    other = browser.new_context()
    sign_in(other, live_ui, carol)
    landing = other.new_page()
    landing.goto(url)
    assert landing.get_by_role("heading", name="Haiku").is_visible()
    assert "You are haiku." in landing.locator("[data-prompt]").inner_text()
    landing.get_by_role("button", name="Clone to my presets").click()
    landing.wait_for_url(f"{live_ui}/o/globex/presets/*/")
    assert "Cloned into your presets in Globex" in landing.content()
    other.close()

    copy = Preset.objects.get(owner=carol)
    assert (copy.org.slug, copy.system_prompt) == ("globex", "You are haiku.")
    page.goto(f"{live_ui}/o/acme/presets/{preset.pk}/share/")
    assert page.locator("table.links tbody td").nth(2).inner_text() == "1"  # opened, then cloned: one person
