"""A chat turn's JSON log lines carry its ids, and none of the personal data sent in the message."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from chatpresets.logging import JsonFormatter, RequestContextFilter
from conversations.models import Message
from tests.chatpresets.observability import send_turn, start_conversation

CANARIES = ("canary.person@example.com", "+1 415 555 0134", "4111 1111 1111 1111", "DE89370400440532013000")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as the production handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.usefixtures("fake_llm")
def test_a_turns_log_lines_carry_its_ids_and_no_canary_pii(api, acme, alice, make_key, json_lines) -> None:
    key, secret = make_key(alice, acme, ["chat"])
    client = api(key=secret)
    conversation_id = start_conversation(client)
    message = "Please mail " + " or call ".join(CANARIES)
    response = send_turn(client, conversation_id, message)
    assert response.status_code == 201, response.json()
    answer = Message.objects.get(conversation_id=conversation_id, role="assistant")
    raw = json_lines.getvalue()
    for canary in CANARIES:
        assert canary not in raw
    finished = [line for line in lines_of(json_lines) if line["message"].startswith("model call finished")]
    assert len(finished) == 1, raw
    assert (
        finished[0]
        | {
            "org_id": str(acme.pk),
            "user_id": str(alice.pk),
            "api_key_id": str(key.pk),
            "conversation_id": str(answer.conversation_id),
            "message_id": str(answer.pk),
        }
        == finished[0]
    )
    assert finished[0]["request_id"] not in ("", "-")


def test_a_canary_in_a_logged_message_is_scrubbed(json_lines) -> None:
    logging.getLogger("conversations").warning("the user wrote %s", CANARIES[0])
    line = lines_of(json_lines)[-1]
    assert CANARIES[0] not in line["message"]
