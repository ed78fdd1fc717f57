"""A turn refused for want of capacity, or by a server that is shutting down, keeps its draft and
offers Retry after the wait the server gave."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.conversations.conftest import server_env
from tests.server import ADMISSION_GATE_OPEN, daphne
from tests.ui.chat import answers, open_conversation, send, wait_for_answer, wait_until, words

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_one_stream(transactional_db: None, fake_server: Any, fake_llm: Any, tmp_path: Any) -> Iterator[str]:
    """A live server that runs one model stream at a time."""
    env = server_env(fake_server, **{**ADMISSION_GATE_OPEN, "MAX_CONCURRENT_STREAMS": "1", "STREAM_ORG_SHARE": "1"})
    with daphne(env, log=tmp_path / "daphne.log") as base:
        yield base


def test_a_turn_refused_at_capacity_keeps_its_draft_and_retries(context, live_one_stream, fake_llm, acme, alice, bob):
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 12, 0.25  # a 3 s answer holds the one stream
    busy = Conversation.objects.create(org=acme, user=bob, title="Busy")
    mine = Conversation.objects.create(org=acme, user=alice, title="Mine")
    other = context.browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        bobs = other.new_page()
        open_conversation(other, bobs, live_one_stream, bob, busy, watch_text=False)
        send(bobs, "A long answer, please")
        expect(answers(bobs).first).to_have_attribute("data-status", "streaming")

        page = context.new_page()
        open_conversation(context, page, live_one_stream, alice, mine, watch_text=False)
        send(page, "Is there room?")
        error = page.locator("[data-chat-error]")
        expect(error).to_contain_text("The service is at capacity right now.")
        expect(error).to_contain_text("Try again in")
        retry = error.get_by_role("button", name="Retry")
        assert retry.is_disabled()
        assert page.get_by_label("Message", exact=True).input_value() == "Is there room?"
        assert not Message.objects.filter(conversation=mine).exists()

        wait_for_answer(bobs)
        expect(retry).to_be_enabled(timeout=5000)
        retry.click()
        assert wait_for_answer(page).locator("[data-md]").text_content().strip() == words(12).strip()
    finally:
        other.close()


def test_shutting_down_reconnects_the_socket_and_offers_retry(page, context, live_one_stream, fake_llm, acme, alice):
    """The frame a draining server sends: shown with its wait, and the page drops that server's socket."""
    conversation = Conversation.objects.create(org=acme, user=alice, title="Restart")
    open_conversation(context, page, live_one_stream, alice, conversation, watch_text=False)
    sockets = page.evaluate("window.__sockets.length")
    # As the server would send it; the page cannot tell this frame from a real drain's.
    page.evaluate(
        """() => window.__sockets.at(-1).dispatchEvent(new MessageEvent("message", {data: JSON.stringify(
            {type: "error", code: "shutting_down", message: "This server is shutting down.", retry_after: 1,
             details: {retry_after: 1}})}))"""
    )
    error = page.locator("[data-chat-error]")
    expect(error).to_contain_text("This server is restarting.")
    wait_until(page, f"window.__sockets.length > {sockets} && window.__sockets.at(-1).readyState === 1")
    expect(error.get_by_role("button", name="Retry")).to_be_visible()
