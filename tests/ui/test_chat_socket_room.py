"""A tab whose socket the server has no room for waits as told, shows no error, and connects once there is room."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.conversations.conftest import server_env
from tests.server import daphne
from tests.ui.chat import open_conversation, send, wait_for_answer, wait_until, words

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_one_socket(transactional_db: None, fake_server: Any, fake_llm: Any, tmp_path: Any) -> Iterator[str]:
    """A live server that lets one caller hold one conversation socket."""
    with daphne(server_env(fake_server, WEBSOCKET_MAX_PER_CALLER="1"), log=tmp_path / "daphne.log") as base:
        yield base


def test_a_second_tab_waits_for_room_then_chats(context, live_one_socket, fake_llm, acme, alice) -> None:
    fake_llm.config.output_tokens = 3
    conversation = Conversation.objects.create(org=acme, user=alice, title="Two tabs")
    first = context.new_page()
    open_conversation(context, first, live_one_socket, alice, conversation)

    second = context.new_page()  # the same session: the same caller, with its one socket taken
    second.goto(f"{live_one_socket}/o/acme/chat/{conversation.pk}/")
    connection = second.locator("[data-connection]")
    # retry_after (2 s), not the first step of the backoff (0.5 s), with its jitter
    expect(connection).to_have_text(re.compile(r"Disconnected\. Reconnecting in [23] s"))
    expect(second.locator("[data-chat-error]")).to_be_hidden()
    time.sleep(3)
    assert second.evaluate("window.__sockets.length") <= 3  # no reconnect storm: one try every 2 s or more

    first.close()  # its socket gives the slot back
    wait_until(second, "window.__sockets.at(-1).readyState === 1", timeout=15)
    time.sleep(0.5)  # a refused socket closes within milliseconds of opening; this one stays
    assert second.evaluate("window.__sockets.at(-1).readyState") == 1
    send(second, "Hello from the second tab")
    assert wait_for_answer(second).locator("[data-md]").text_content().strip() == words(3).strip()
