"""An approver replays recent turns from the review page and reads both versions' answers side by side."""

from __future__ import annotations

import re

import pytest

from conversations.models import Message
from conversations.replays.models import Replay
from tests.factories import MembershipFactory
from tests.replays_world import conversation_on, preset_in_review
from tests.ui.browser import screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_approver_starts_a_replay_on_the_review_page_and_sees_both_answers(
    browser, live_ui, acme, alice, bob, tmp_path
) -> None:
    approver = MembershipFactory(org=acme, role="approver").user
    preset = preset_in_review(acme, bob, "tutor", alice)
    conversation_on(preset, bob, ["What is a preset?", "And a label?"])
    messages = Message.objects.count()
    context = browser.new_context()
    sign_in(context, live_ui, approver)
    page = context.new_page()
    page.goto(f"{live_ui}/o/acme/presets/review/")
    page.get_by_label("Token budget").fill("5000")
    page.get_by_role("button", name="Start replay").click()  # loaded into the review item by htmx
    page.wait_for_url(re.compile(rf"{live_ui}/o/acme/presets/{preset.pk}/replays/[0-9a-f-]+/$"))
    page.locator('[data-replay-status="done"]').wait_for()
    items = page.locator("[data-item]")
    assert items.count() == 2
    first = items.first
    assert "What is a preset?" in first.locator(".replay-question").inner_text()
    assert first.locator('[data-side="baseline"] .replay-answer').inner_text().startswith("w0")
    assert first.locator('[data-side="candidate"] .replay-answer').inner_text().startswith("w0")
    assert "tokens" in first.locator("[data-item-difference]").inner_text()
    assert "Difference" in page.locator("tr[data-difference]").inner_text()
    replay = Replay.objects.get(preset=preset)
    assert (replay.status, replay.started_by_id, Message.objects.count()) == ("done", approver.pk, messages)
    screenshot(page, "replay-side-by-side", tmp_path)

    page.goto(f"{live_ui}/o/acme/presets/review/")
    page.get_by_role("link", name=re.compile(r"v1 → v2")).wait_for()  # the review page lists it
    context.close()
