"""The context inspector shows what the model receives, PII placeholders included, built by the turn's own code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conversations import services
from conversations.models import Conversation
from tenancy.models import Membership
from tests.conversations.test_http import send, start, url
from tests.conversations.test_pii_policy import CANARY_CARD, CANARY_EMAIL, pii_mode

pytestmark = pytest.mark.usefixtures("fake_llm")

# Non-ASCII beside the PII, so "byte for byte" means something for the encoding too.
TEXT = f"Grüße: write to {CANARY_EMAIL} about card {CANARY_CARD}, please."


def as_bytes(messages: list[dict[str, Any]]) -> bytes:
    return json.dumps(messages, ensure_ascii=False).encode()


def inspect(api, user, conversation_id) -> dict[str, Any]:
    response = api(user).get(url("conversation-context", pk=conversation_id))
    assert response.status_code == 200, response.content
    return response.json()


def inspected_messages(preview: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": part["role"], "content": part["content"]} for part in preview["parts"]]


def model_received_before_the_new_message(fake_llm) -> list[dict[str, str]]:
    """The inspector previews the next call without its new message: the model's prompt minus the last one."""
    return fake_llm.requests[-1]["messages"][:-1]


def test_under_redact_for_model_the_inspector_shows_exactly_what_the_model_receives(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "redact_for_model")
    fake_llm.config.reply = "I will write to <EMAIL_1> today."  # restored: the stored answer holds the e-mail
    chat = start(api, alice)
    send(api, alice, chat["id"], TEXT)
    preview = inspect(api, alice, chat["id"])
    assert CANARY_EMAIL not in json.dumps(preview)
    assert CANARY_CARD not in json.dumps(preview)
    assert send(api, alice, chat["id"], "Thanks.").status_code == 201
    assert as_bytes(inspected_messages(preview)) == as_bytes(model_received_before_the_new_message(fake_llm))


def test_the_owner_sees_which_placeholder_stands_for_which_kind_of_data(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "redact_for_model")
    fake_llm.config.reply = "I will write to <EMAIL_1> today."
    chat = start(api, alice)
    send(api, alice, chat["id"], TEXT)
    preview = inspect(api, alice, chat["id"])
    findings = preview["pii"]["findings"]
    assert preview["pii"]["mode"] == "redact_for_model"
    assert [(f["part"], f["seq"], f["type"], f["placeholder"]) for f in findings] == [
        (1, 1, "EMAIL", "<EMAIL_1>"),
        (1, 1, "CARD_NUMBER", "<CARD_NUMBER_1>"),
        (2, 2, "EMAIL", "<EMAIL_1>"),
    ]
    for finding in findings:
        content = preview["parts"][finding["part"]]["content"]
        assert content[finding["start"] : finding["end"]] == finding["placeholder"]
    assert set(findings[0]) == {"part", "seq", "type", "placeholder", "start", "end"}  # never the value


def test_nobody_else_reads_the_inspector_and_the_findings_are_the_owners_alone(api, acme, alice, bob, carol) -> None:
    pii_mode(acme, "redact_for_model")
    chat = start(api, alice)
    send(api, alice, chat["id"], TEXT)
    assert api(bob).get(url("conversation-context", pk=chat["id"])).status_code == 404
    assert api(carol).get(url("conversation-context", pk=chat["id"])).status_code == 404
    assert api(carol).get(url("conversation-context", pk=chat["id"], org="globex")).status_code == 404
    # Should another member ever be let in (support, an admin), the service leaves the findings out.
    conversation = Conversation.objects.get(pk=chat["id"])
    preview = services.context_preview(
        conversation=conversation, membership=Membership.objects.for_org(acme).get(user=bob)
    )
    assert preview["pii"] == {"mode": "redact_for_model"}
    assert "<EMAIL_1>" in preview["parts"][1]["content"]
    assert CANARY_EMAIL not in json.dumps(preview)


def test_without_redaction_the_inspector_shows_the_text_as_sent_and_no_findings(api, acme, alice, fake_llm) -> None:
    chat = start(api, alice)
    send(api, alice, chat["id"], TEXT)
    preview = inspect(api, alice, chat["id"])
    assert preview["pii"] == {"mode": "off", "findings": []}
    assert preview["parts"][1]["content"] == TEXT
    send(api, alice, chat["id"], "Thanks.")
    assert as_bytes(inspected_messages(preview)) == as_bytes(model_received_before_the_new_message(fake_llm))


def test_history_from_before_redaction_is_numbered_as_the_next_turn_numbers_it(api, acme, alice, fake_llm) -> None:
    """Redaction switched on mid-conversation: the history's values are new to the vault, and the new
    message brings another; the prompt numbers them in prompt order, as the inspector showed."""
    chat = start(api, alice)
    send(api, alice, chat["id"], f"I am {CANARY_EMAIL}.")
    pii_mode(acme, "redact_for_model")
    preview = inspect(api, alice, chat["id"])
    assert preview["parts"][1]["content"] == "I am <EMAIL_1>."
    send(api, alice, chat["id"], "And other.person@example.com?")
    assert as_bytes(inspected_messages(preview)) == as_bytes(model_received_before_the_new_message(fake_llm))
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "And <EMAIL_2>?"


def test_the_running_summary_is_screened_like_the_messages_it_summarises(api, acme, alice, fake_llm) -> None:
    chat = start(api, alice)
    send(api, alice, chat["id"], "Hello.")
    Conversation.objects.filter(pk=chat["id"]).update(summary=f"The user is {CANARY_EMAIL}.")
    pii_mode(acme, "redact_for_model")
    preview = inspect(api, alice, chat["id"])
    summary = preview["parts"][1]
    assert (summary["kind"], summary["content"]) == (
        "summary",
        "Summary of the earlier conversation:\nThe user is <EMAIL_1>.",
    )
    assert preview["pii"]["findings"][0]["part"] == 1
    send(api, alice, chat["id"], "Go on.")
    assert CANARY_EMAIL not in json.dumps(fake_llm.requests[-1]["messages"])
    assert as_bytes(inspected_messages(preview)) == as_bytes(model_received_before_the_new_message(fake_llm))
