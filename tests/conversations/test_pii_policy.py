"""The PII guardrail end to end: what the model received, what was stored, returned, logged and audited."""

from __future__ import annotations

import json
import logging

import pytest
from channels.db import database_sync_to_async as sync_to_async

from audit.models import AuditEvent
from chatpresets.llm.pii.policy import mode_for
from chatpresets.logging import ScrubbingFormatter
from conversations.models import Conversation, Message, UsageRecord
from tests.conversations.test_http import send, start
from tests.conversations.test_websocket import communicator, frames_until_done

pytestmark = pytest.mark.usefixtures("fake_llm")

CANARY_EMAIL = "canary.person@example.com"
CANARY_CARD = "4111 1111 1111 1111"
TEXT = f"Write to {CANARY_EMAIL} about card {CANARY_CARD}, please."


def pii_mode(org, mode: str) -> None:
    org.settings = {**org.settings, "pii_mode": mode}
    org.save()


def model_saw(fake_llm) -> str:
    return json.dumps(fake_llm.requests[-1]["messages"])


def everything_stored_but(message_id, *, vault_allowed: bool = False) -> str:
    """Every stored text the canary must not be in: other messages, titles, summaries, audit, ledger.

    Under `redact_for_model` the conversation's vault holds the originals beside the owner's own
    message (it restores the answers); `vault_allowed` leaves it out.
    """
    fields = ("title", "summary") if vault_allowed else ("pii_vault", "title", "summary")
    rows = [
        *Message.objects.exclude(pk=message_id).values_list("content", flat=True),
        *(json.dumps(v) for v in Conversation.objects.values_list(*fields)),
        *(json.dumps(v) for v in AuditEvent.objects.values_list("payload", flat=True)),
        *(json.dumps(v, default=str) for v in UsageRecord.objects.values()),
    ]
    return "\n".join(rows)


def test_redact_for_model_hides_pii_from_the_model_and_restores_the_answer(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "redact_for_model")
    fake_llm.config.reply = "I will write to <EMAIL_1> today."
    convo = start(api, alice)
    body = send(api, alice, convo["id"], TEXT).json()
    assert CANARY_EMAIL not in model_saw(fake_llm)
    assert "<EMAIL_1>" in model_saw(fake_llm)
    assert "<CARD_NUMBER_1>" in model_saw(fake_llm)
    assert body["user_message"]["content"] == TEXT  # stored and shown as written
    assert body["user_message"]["pii"] == {"mode": "redact_for_model", "entities": {"EMAIL": 1, "CARD_NUMBER": 1}}
    assert body["message"]["content"] == f"I will write to {CANARY_EMAIL} today."
    assert Message.objects.get(pk=body["message"]["id"]).content == f"I will write to {CANARY_EMAIL} today."


def test_redact_for_model_keeps_placeholders_consistent_across_turns(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "redact_for_model")
    convo = start(api, alice)
    send(api, alice, convo["id"], f"Mail {CANARY_EMAIL}.")
    send(api, alice, convo["id"], f"Also other.person@example.com and again {CANARY_EMAIL}.")
    sent = fake_llm.requests[-1]["messages"]
    assert sent[1]["content"] == "Mail <EMAIL_1>."
    assert sent[-1]["content"] == "Also <EMAIL_2> and again <EMAIL_1>."


@pytest.mark.django_db(transaction=True)
async def test_redact_for_model_restores_placeholders_in_a_streamed_answer(chat, fake_llm) -> None:
    await sync_to_async(pii_mode)(chat["conversation"].org, "redact_for_model")
    fake_llm.config.reply = "Sent to <EMAIL_1> now"
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": f"Mail {CANARY_EMAIL}.", "client_id": "c1"})
    frames = await frames_until_done(socket)
    await socket.disconnect()
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == f"Sent to {CANARY_EMAIL} now"
    assert "<EMAIL_1>" not in json.dumps(frames)
    assert frames[0]["message"]["pii"]["entities"] == {"EMAIL": 1}


def test_redact_stored_keeps_the_original_out_of_the_database(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "redact_stored")
    fake_llm.config.reply = "Noted <EMAIL_1>."
    convo = start(api, alice)
    body = send(api, alice, convo["id"], TEXT).json()
    assert body["user_message"]["content"] == "Write to <EMAIL_1> about card <CARD_NUMBER_1>, please."
    assert body["message"]["content"] == "Noted <EMAIL_1>."  # never restored: it would be stored
    assert CANARY_EMAIL not in model_saw(fake_llm)
    assert CANARY_EMAIL not in everything_stored_but(None)
    assert CANARY_CARD not in everything_stored_but(None)


def test_block_refuses_naming_the_entity_types_and_stores_nothing(api, acme, alice, fake_llm) -> None:
    pii_mode(acme, "block")
    convo = start(api, alice)
    response = send(api, alice, convo["id"], TEXT)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]["entity_types"]) == ("pii_blocked", ["CARD_NUMBER", "EMAIL"])
    assert CANARY_EMAIL not in response.content.decode()
    assert not Message.objects.filter(conversation_id=convo["id"]).exists()
    assert fake_llm.requests == []
    assert send(api, alice, convo["id"], "No personal data here.").status_code == 201


def test_off_sends_the_text_as_written(api, acme, alice, fake_llm) -> None:
    convo = start(api, alice)
    body = send(api, alice, convo["id"], TEXT).json()
    assert CANARY_EMAIL in model_saw(fake_llm)
    assert body["user_message"]["pii"] == {}


@pytest.mark.parametrize("mode", ["off", "redact_for_model", "redact_stored", "block"])
def test_canary_pii_never_reaches_logs_or_audit(api, acme, alice, fake_llm, caplog, mode) -> None:
    pii_mode(acme, mode)
    caplog.set_level(logging.DEBUG)
    fake_llm.inject("500")  # a failed first attempt takes the error and retry paths too
    convo = start(api, alice)
    response = send(api, alice, convo["id"], TEXT)
    assert response.status_code in (201, 400)
    formatter = ScrubbingFormatter("%(name)s %(message)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert CANARY_EMAIL not in logged
    assert CANARY_CARD not in logged
    user_message = Message.objects.filter(conversation_id=convo["id"], role="user").first()
    kept = user_message.pk if user_message else None
    assert CANARY_EMAIL not in everything_stored_but(kept, vault_allowed=mode == "redact_for_model")


def test_the_log_formatter_scrubs_messages_and_tracebacks() -> None:
    formatter = ScrubbingFormatter("%(message)s")
    try:
        raise ValueError(f"bad input {CANARY_EMAIL}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "user %s", (CANARY_EMAIL,), exc_info=True)
        record.exc_info = __import__("sys").exc_info()
    line = formatter.format(record)
    assert CANARY_EMAIL not in line
    assert line.startswith("user <EMAIL>")


@pytest.mark.parametrize(
    ("org", "preset", "expected"),
    [
        ({}, None, "off"),
        ({"pii_mode": "block"}, None, "block"),
        ({"pii_mode": "block"}, {"pii_mode": "redact_for_model"}, "redact_for_model"),
        ({}, {"pii_mode": "redact_stored"}, "redact_stored"),
        ({"pii_mode": "nonsense"}, None, "off"),
    ],
)
def test_the_preset_policy_overrides_the_organisation(org, preset, expected) -> None:
    assert mode_for(org_settings=org, preset_policy=preset) == expected


def test_the_openai_compatible_route_redacts_and_restores_and_blocks(api, acme, alice, make_key, fake_llm) -> None:
    _, secret = make_key(alice, acme, ["chat"])
    body = {"model": "fake", "messages": [{"role": "user", "content": f"Mail {CANARY_EMAIL}"}]}
    pii_mode(acme, "redact_for_model")
    fake_llm.config.reply = "Mailed <EMAIL_1>"
    answer = api(key=secret).post("/v1/chat/completions", body, format="json").json()
    assert answer["choices"][0]["message"]["content"] == f"Mailed {CANARY_EMAIL}"
    assert fake_llm.requests[-1]["messages"][-1]["content"] == "Mail <EMAIL_1>"
    pii_mode(acme, "block")
    refused = api(key=secret).post("/v1/chat/completions", body, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["entity_types"] == ["EMAIL"]
    assert len(fake_llm.requests) == 1


def test_log_lines_keep_loopback_addresses_and_scrub_others() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "listening on %s, client %s", ("127.0.0.1:8000", "203.0.113.9"), None
    )
    assert ScrubbingFormatter("%(message)s").format(record) == "listening on 127.0.0.1:8000, client <IP_ADDRESS>"
