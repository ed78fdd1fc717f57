"""A long conversation in a real chromium: it paints fast, older messages load as the reader scrolls up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.ui.browser import screenshot
from tests.ui.chat import open_conversation, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FENCE = "```"
SERIOUS_VIOLATIONS = """
axe.run(document, {resultTypes: ['violations']}).then((result) => result.violations
  .filter((v) => ['serious', 'critical'].includes(v.impact))
  .map((v) => [v.id, v.nodes.map((node) => `${node.target.join(' ')}: ${node.failureSummary}`)]))
"""


@pytest.fixture
def long_chat(acme, alice) -> Conversation:
    conversation = Conversation.objects.create(org=acme, user=alice, title="Release planning")
    answer = f"Step {{seq}}: ship the **release notes**.\n\n{FENCE}python\nprint('release {{seq}}')\n{FENCE}"
    Message.objects.bulk_create(
        Message(
            org=acme,
            conversation=conversation,
            seq=seq,
            role="user" if seq % 2 else "assistant",
            content=f"Question {seq}" if seq % 2 else answer.format(seq=seq),
            token_count=20,
            model="fake",
            prompt_tokens=120,
            completion_tokens=20,
        )
        for seq in range(1, 501)
    )
    return conversation


def test_a_500_message_conversation_paints_within_a_second(page, context, live_ui, alice, long_chat) -> None:
    open_conversation(context, page, live_ui, alice, long_chat)

    paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    assert paint < 1000, paint
    assert page.locator("[data-message]").count() == 30
    expect(page.locator("[data-message]").last).to_contain_text("Step 500")


def test_scrolling_up_loads_older_messages_and_keeps_the_reader_in_place(
    page, context, live_ui, alice, long_chat, tmp_path
) -> None:
    open_conversation(context, page, live_ui, alice, long_chat)
    screenshot(page, "conversation", tmp_path)
    oldest = page.locator("[data-message]").first
    assert oldest.get_attribute("data-seq") == "471"

    page.evaluate("document.querySelector('[data-scroll]').scrollTop = 0")

    wait_until(page, "document.querySelectorAll('[data-message]').length === 80")
    assert oldest.is_visible()  # still in view: the older page went in above it without a jump
    assert page.locator("[data-message]").first.get_attribute("data-seq") == "421"
    assert page.locator("[data-message][data-seq='430'] pre code [class^='hljs-']").count() > 0  # rendered too


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_conversation_page_has_no_serious_accessibility_violations(
    browser, live_ui, alice, long_chat, theme, tmp_path
) -> None:
    context = browser.new_context(color_scheme=theme, viewport={"width": 375, "height": 740})
    page = context.new_page()
    open_conversation(context, page, live_ui, alice, long_chat)
    page.get_by_role("button", name="Context", exact=True).click()
    page.locator("#context-body .context-part").first.wait_for()
    page.get_by_role("button", name="Close the context panel").click()
    page.locator("[data-message]").last.get_by_text("Info").click()
    screenshot(page, "conversation-375", tmp_path)
    page.add_script_tag(url=f"{live_ui}/static/vendor/axe-core/axe.min.js")

    found = page.evaluate(SERIOUS_VIOLATIONS)

    context.close()
    assert found == []
