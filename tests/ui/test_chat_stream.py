"""The conversation page streams an answer in a real chromium: increments, stop, and a dropped socket."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.conversations.conftest import server_env
from tests.server import daphne
from tests.ui.chat import open_conversation, send, wait_for_answer, wait_until, words

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(acme, alice) -> Conversation:
    return Conversation.objects.create(org=acme, user=alice, title="Streaming")


def test_the_answer_arrives_in_several_increments_before_it_completes(
    page, context, live_ui, fake_llm, alice, conversation
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 20, 0.05
    open_conversation(context, page, live_ui, alice, conversation)
    composer = page.get_by_label("Message", exact=True)
    composer.fill("Count")
    composer.press("Shift+Enter")  # a new line, not a send
    composer.type("for me")
    assert composer.input_value() == "Count\nfor me"
    assert page.locator("[data-token-estimate]").inner_text() == "≈ 3 tokens"  # the browser's rough count

    composer.press("Enter")

    answer = wait_for_answer(page)
    assert answer.get_attribute("data-status") == "complete"
    assert answer.locator("[data-md]").inner_text().strip() == words(20).strip()
    increments = page.evaluate("window.__answerTexts.filter((text) => text.length > 0)")
    assert len(increments) >= 3, increments  # painted as it arrived, not once at the end
    assert all(words(20).startswith(text.strip()) for text in increments)
    stored = Message.objects.get(conversation=conversation, role="assistant")
    assert stored.content == words(20)
    answer.get_by_text("Info").click()  # the popover shows the stored usage
    info = answer.locator(".msg-info dl")
    assert info.locator("[data-field=model]").inner_text() == stored.model
    assert info.locator("[data-field=completion_tokens]").inner_text() == str(stored.completion_tokens)
    assert info.locator("[data-field=ttft_ms]").inner_text() == f"{stored.ttft_ms} ms"


def test_stop_mid_stream_keeps_the_partial_answer(page, context, live_ui, fake_llm, alice, conversation) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Count slowly")
    wait_until(page, "(window.__answerTexts.at(-1) || '').split(' ').length > 3")

    page.get_by_role("button", name="Stop").click()

    answer = wait_for_answer(page)
    assert answer.get_attribute("data-status") == "cancelled"
    assert answer.get_by_text("Stopped.").is_visible()
    stored = Message.objects.get(conversation=conversation, role="assistant")
    assert stored.status == "cancelled"
    shown = answer.locator("[data-md]").inner_text().strip()
    assert shown == stored.content.strip()
    assert 0 < len(stored.content) < len(words(200))  # stopped part-way, and what arrived stays
    assert page.get_by_label("Message", exact=True).is_enabled()  # the composer is back


def test_stop_while_the_line_is_down_stops_the_answer_once_it_reconnects(
    page, context, live_ui, fake_llm, alice, conversation
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Count slowly")
    wait_until(page, "(window.__answerTexts.at(-1) || '').split(' ').length > 3")

    page.evaluate("window.__sockets.at(-1).close()")
    page.get_by_role("button", name="Stop").click()  # the socket is down: the stop waits for the next one

    answer = wait_for_answer(page)
    assert answer.get_attribute("data-status") == "cancelled"
    stored = Message.objects.get(conversation=conversation, role="assistant")
    assert stored.status == "cancelled"
    assert answer.locator("[data-md]").inner_text().strip() == stored.content.strip()
    assert 0 < len(stored.content) < len(words(200))
    assert page.evaluate("window.__sockets.length") >= 2


def test_a_dropped_socket_reconnects_and_resumes_the_answer_exactly_once(
    page, context, live_ui, fake_llm, alice, conversation
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.05
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Count past a dropped line")
    wait_until(page, "(window.__answerTexts.at(-1) || '').split(' ').length > 3")

    partial = page.evaluate("window.__sockets.at(-1).close(); window.__answerTexts.at(-1)")

    answer = wait_for_answer(page)
    assert len(partial.split()) < 60  # the line dropped mid-answer
    assert page.evaluate("window.__sockets.length") >= 2  # a new socket was opened on its own
    assert answer.get_attribute("data-status") == "complete"
    assert answer.locator("[data-md]").inner_text().strip() == words(60).strip()  # nothing lost or doubled
    texts = page.evaluate("window.__answerTexts")
    assert all(words(60).startswith(text.strip()) for text in texts if text)  # never doubled on the way either
    assert Message.objects.filter(conversation=conversation, role="assistant").count() == 1


@pytest.fixture
def roomy_ui(transactional_db, fake_server, fake_llm, tmp_path):
    """A live server whose model may stream for a minute: 2,000 tokens at 100 a second take 20 s and more."""
    with daphne(server_env(fake_server, model={"total_timeout": 60.0}), log=tmp_path / "daphne.log") as base:
        yield base


def test_a_long_answer_streams_for_little_main_thread_scripting(
    page, context, roomy_ui, fake_llm, alice, conversation
) -> None:
    """2,000 tokens at 100 a second cost under 500 ms of script time in the page (Chrome's own
    ScriptDuration, through the DevTools Performance domain), parsing and painting included."""
    tokens = [f"**word{i}**" if i % 17 == 0 else f"word{i}" for i in range(2000)]
    fake_llm.config.reply = " ".join(t + ("\n\n" if i % 40 == 39 else "") for i, t in enumerate(tokens))
    fake_llm.config.token_delay = 0.01
    open_conversation(context, page, roomy_ui, alice, conversation, watch_text=False)
    devtools = context.new_cdp_session(page)
    devtools.send("Performance.enable")
    before = script_seconds(devtools)

    send(page, "Write at length")
    answer = wait_for_answer(page, timeout=60)

    spent = script_seconds(devtools) - before
    assert answer.get_attribute("data-status") == "complete"
    assert answer.locator("[data-md] p").count() == 50
    assert spent < 0.5, f"{spent * 1000:.0f} ms of scripting"


def script_seconds(devtools) -> float:
    metrics = devtools.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "ScriptDuration")


def test_reopening_the_page_mid_answer_follows_it_to_the_end(page, context, live_ui, fake_llm, alice, conversation):
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.05
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Keep counting")
    wait_until(page, "(window.__answerTexts.at(-1) || '').split(' ').length > 3")

    page.reload()

    answer = wait_for_answer(page)
    assert answer.get_attribute("data-status") == "complete"
    assert answer.locator("[data-md]").inner_text().strip() == words(60).strip()
    assert page.get_by_label("Message", exact=True).is_enabled()
