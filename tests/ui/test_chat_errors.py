"""Refusals and failures shown in the conversation page with what to do: wait, when a quota resets, Retry."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.conversations.test_guardrails import limit
from tests.ui.chat import answers, open_conversation, send, wait_for_answer, words

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(acme, alice) -> Conversation:
    return Conversation.objects.create(org=acme, user=alice, title="Limits")


def test_a_rate_limit_counts_down_and_keeps_the_draft(page, context, live_ui, fake_llm, acme, alice, conversation):
    fake_llm.config.output_tokens = 3
    limit(acme, user_rpm=1)
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "One")
    wait_for_answer(page)

    send(page, "Two, too soon")

    error = page.locator("[data-chat-error]")
    expect(error).to_contain_text("Slow down: you reached your requests per minute.")
    expect(error).to_contain_text("Try again in")
    assert error.get_by_role("button", name="Retry").is_disabled()  # until the countdown ends
    assert page.get_by_label("Message", exact=True).input_value() == "Two, too soon"  # the draft is back
    assert page.locator('[data-message][data-role="user"]').count() == 1
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1


def test_a_quota_refusal_names_the_limit_and_when_it_resets(page, context, live_ui, acme, alice, conversation):
    limit(acme, org_tokens_day=1)
    open_conversation(context, page, live_ui, alice, conversation)

    send(page, "Anything")

    error = page.locator("[data-chat-error]")
    expect(error).to_contain_text("Your organisation's daily token quota is used up.")
    expect(error).to_contain_text("It resets at")
    expect(error).to_contain_text("An organisation admin can raise it.")
    assert error.get_by_role("button", name="Retry").count() == 0  # waiting will not help within the day
    assert not Message.objects.filter(conversation=conversation).exists()


def test_a_model_failure_offers_retry_which_answers_again(page, context, live_ui, fake_llm, alice, conversation):
    fake_llm.config.output_tokens = 4
    fake_llm.inject(*["500"] * 12)  # every try and fallback fails
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Please answer")

    error = page.locator("[data-chat-error]")
    expect(error).to_contain_text("The model did not answer.")
    assert answers(page).first.get_attribute("data-status") == "failed"
    fake_llm.faults.clear()

    error.get_by_role("button", name="Retry").click()

    answer = answers(page).first
    expect(answer).to_have_attribute("data-status", "complete")
    assert answer.locator("[data-md]").inner_text().strip() == words(4).strip()
    assert answers(page).count() == 1
    expect(error).to_be_hidden()


def test_an_answer_cut_short_keeps_its_text_and_offers_retry(page, context, live_ui, fake_llm, alice, conversation):
    fake_llm.config.output_tokens = 6
    fake_llm.inject("disconnect")  # the model's connection drops after two tokens
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Please answer")

    error = page.locator("[data-chat-error]")
    expect(error).to_contain_text("The model stopped part-way through this answer.")
    cut = answers(page).first
    assert cut.get_attribute("data-status") == "interrupted"
    assert cut.locator("[data-md]").inner_text().strip() == words(2).strip()  # what arrived stays

    error.get_by_role("button", name="Retry").click()

    expect(answers(page).first).to_have_attribute("data-status", "complete")
    assert answers(page).locator("[data-md]").all_inner_texts() == [words(6).strip()]
