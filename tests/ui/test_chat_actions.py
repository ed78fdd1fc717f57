"""What a person does with messages in a real chromium: Markdown, regenerate, edit and resend, thumbs, Context."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Feedback, Message
from tests.ui.chat import answers, open_conversation, send, wait_for_answer, wait_until, words

pytestmark = pytest.mark.django_db(transaction=True)

MARKDOWN_REPLY = (
    "Read [the guide](https://example.com/guide) first.\n\n"
    "```python\nprint('hi')\n```\n\n"
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>'
)


@pytest.fixture
def conversation(acme, alice) -> Conversation:
    return Conversation.objects.create(org=acme, user=alice, title="Actions")


@pytest.fixture
def answered(page, context, live_ui, fake_llm, alice, conversation) -> Conversation:
    """The conversation open in the page, with one question answered."""
    fake_llm.config.output_tokens = 5
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "First question")
    wait_for_answer(page)
    return conversation


def test_answers_render_safe_markdown_with_highlighted_code_and_outward_links(
    page, context, live_ui, fake_llm, alice, conversation
) -> None:
    fake_llm.config.reply = MARKDOWN_REPLY
    open_conversation(context, page, live_ui, alice, conversation)
    send(page, "Show me")
    answer = wait_for_answer(page)

    link = answer.get_by_role("link", name="the guide")
    assert link.get_attribute("href") == "https://example.com/guide"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert answer.locator("pre code .hljs-built_in, pre code [class^='hljs-']").count() > 0
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_ui)
    answer.get_by_role("button", name="Copy code").click()
    expect(answer.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"
    assert answer.locator("img[onerror], script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_regenerate_replaces_the_last_answer(page, fake_llm, answered) -> None:
    fake_llm.config.reply = "A fresh answer"
    first = answers(page).first

    first.get_by_role("button", name="Regenerate").click()

    wait_until(page, "document.querySelector('[data-role=assistant] [data-md]').textContent.includes('fresh')")
    answer = wait_for_answer(page)
    assert answers(page).count() == 1
    assert answer.locator("[data-md]").inner_text().strip() == "A fresh answer"
    stored = Message.objects.filter(conversation=answered, role="assistant").order_by("seq")
    assert [(m.content, m.superseded) for m in stored] == [(words(5), True), ("A fresh answer", False)]


def test_edit_and_resend_replaces_the_last_question_and_its_answer(page, fake_llm, answered) -> None:
    fake_llm.config.reply = "Answer to the edit"
    question = page.locator('[data-message][data-role="user"]').first

    question.get_by_role("button", name="Edit").click()
    page.get_by_label("Edit your message").fill("Edited question")
    page.get_by_role("button", name="Save and send").click()

    wait_until(page, "document.querySelector('[data-role=assistant] [data-md]').textContent.includes('edit')")
    wait_for_answer(page)
    questions = page.locator('[data-message][data-role="user"] [data-md]')
    assert questions.all_inner_texts() == ["Edited question"]
    assert answers(page).locator("[data-md]").all_inner_texts() == ["Answer to the edit"]
    live = Message.objects.filter(conversation=answered, superseded=False).order_by("seq")
    assert [(m.role, m.content) for m in live] == [("user", "Edited question"), ("assistant", "Answer to the edit")]


def test_thumbs_store_one_changeable_vote_with_a_reason(page, alice, answered) -> None:
    answer = answers(page).first

    answer.get_by_role("button", name="Bad answer").click()
    answer.get_by_label("Why? (optional)").fill("Too terse")
    answer.get_by_role("button", name="Send feedback").click()
    answer.locator("[data-reason-form]").wait_for(state="hidden")

    row = Feedback.objects.get()
    assert (row.user, row.vote, row.reason) == (alice, "down", "Too terse")
    assert answer.get_by_role("button", name="Bad answer").get_attribute("aria-pressed") == "true"

    answer.get_by_role("button", name="Good answer").click()
    expect(answer.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")
    assert Feedback.objects.get().vote == "up"
    assert answer.get_by_role("button", name="Bad answer").get_attribute("aria-pressed") == "false"


def test_the_context_panel_shows_what_the_next_call_sends(page, answered) -> None:
    page.get_by_role("button", name="Context", exact=True).click()

    panel = page.locator("#context-panel")
    panel.get_by_text("System prompt").wait_for()
    assert panel.get_by_text("First question").is_visible()
    assert panel.get_by_text(words(5).strip()).is_visible()
    assert panel.locator(".context-part[data-kind=history]").count() == 2
    assert "of" in panel.locator("[data-context-used]").inner_text()
    assert page.get_by_role("button", name="Context", exact=True).get_attribute("aria-expanded") == "true"

    send(page, "Second question")  # the open panel follows the conversation
    expect(panel.get_by_text("Second question")).to_be_visible()
    assert panel.locator(".context-part[data-kind=history]").count() == 4
