"""A long conversation in a real chromium: it paints fast, older messages load as the reader scrolls up."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.ui.browser import screenshot
from tests.ui.chat import open_conversation, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

FENCE = "```"


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
