"""Every preset page fits a 375 px wide phone: wide tables scroll inside themselves, the page never sideways."""

from __future__ import annotations

import pytest

from presets.services import lifecycle
from tests.presets_world import make_preset
from tests.ui.browser import WATCH_CSP, csp_violations, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_preset_pages_fit_a_narrow_screen(browser, live_ui, acme, alice) -> None:
    preset = make_preset(acme, alice, "writer", description="A long description " * 5, tags=["poetry", "short"])
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="You are writer.\nBe terse and kind, always.")
    context = browser.new_context(viewport={"width": 375, "height": 800})
    context.add_init_script(WATCH_CSP)
    sign_in(context, live_ui, alice)
    page = context.new_page()
    paths = ["", "new/", "trash/", "review/", f"{preset.pk}/", f"{preset.pk}/edit/", f"{preset.pk}/share/"]

    for path in [*paths, f"{preset.pk}/diff/?a=1&b=2"]:
        page.goto(f"{live_ui}/o/acme/presets/{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    assert csp_violations(page) == []
    context.close()
