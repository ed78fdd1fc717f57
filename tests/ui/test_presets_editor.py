"""The preset editor in a real chromium: a live token count, a saved preset, an inline refusal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from chatpresets.llm.tokens import count_text
from presets.models import Preset
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_creating_a_preset_in_the_editor(page, context, live_ui, alice, tmp_path) -> None:
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/presets/new/")

    page.get_by_label("Name", exact=True).fill("Haiku writer")
    page.get_by_label("Slug").fill("haiku-writer")
    prompt = "Answer in a haiku about {{ topic }}."
    page.get_by_label("System prompt").fill(prompt)
    page.get_by_label("Variable 1 name").fill("topic")
    page.get_by_label("Variable 1 default").fill("the sea")
    expect(page.locator("[data-token-count]")).to_have_text(str(count_text(prompt, "o200k_base")))
    screenshot(page, "preset-editor", tmp_path)
    page.get_by_role("button", name="Save", exact=True).click()

    page.wait_for_url(f"{live_ui}/o/acme/presets/*/")
    assert page.get_by_role("heading", name="Haiku writer").is_visible()
    preset = Preset.objects.get(slug="haiku-writer")
    assert preset.system_prompt == "Answer in a haiku about {{ topic }}."
    assert preset.variables[0]["default"] == "the sea"


def test_a_refused_save_keeps_the_form_and_says_why(page, context, live_ui, alice) -> None:
    sign_in(context, live_ui, alice)
    page.goto(f"{live_ui}/o/acme/presets/new/")

    page.get_by_label("Name", exact=True).fill("Loose")
    page.get_by_label("Slug").fill("loose")
    page.get_by_label("System prompt").fill("Hello {{ undeclared }}")
    page.get_by_role("button", name="Save", exact=True).click()

    alert = page.get_by_role("alert")
    assert "undeclared variable(s): undeclared" in alert.inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "Loose"
    assert not Preset.objects.filter(slug="loose").exists()
