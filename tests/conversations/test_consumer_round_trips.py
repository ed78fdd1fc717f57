"""A websocket turn's round trips to the database (conversations/consumers.py: authorize_and_prepare):
the frame's access check and the turn's preparation share one thread hop, one transaction and the
conversation's one read; the organisation's limit overrides are not queried when it has none; and the
tokens of the copies the turn reads (its preset, the overrides) come in one round trip to the cache."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.consumers import authorize_and_prepare
from conversations.models import Message, MessageStatus
from conversations.services import abandon_turn
from tenancy.models import ApiKey
from tests.chatpresets.test_version_tokens import recorded_cache_reads

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_llm")]


def turn(chat: dict, content: str, **frame: str) -> tuple[list[str], object]:
    key = ApiKey.objects.get(org=chat["conversation"].org)
    with CaptureQueriesContext(connection) as queries:
        _, _, prepared = authorize_and_prepare(
            {"type": "send", "content": content, **frame},
            key.user_id,
            key.pk,
            "acme",
            str(chat["conversation"].pk),
            socket_open=True,
        )
    abandon_turn(prepared=prepared)  # no model call: the answer is cancelled and its hold freed
    statements = [query["sql"] for query in queries.captured_queries]
    return [sql for sql in statements if not sql.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))], prepared


def test_a_send_frame_is_checked_and_prepared_with_eight_queries(chat) -> None:
    turn(chat, "first")  # this process learns that acme has no limit overrides
    statements, prepared = turn(chat, "second")
    # key, membership, conversation, state, history sizes, history texts, one INSERT, one UPDATE
    assert len(statements) == 8, "\n".join(statements)
    assert sum(" FOR UPDATE" in sql for sql in statements) == 1  # the conversation, read once
    assert not any("tenancy_limitoverride" in sql for sql in statements)
    assert (prepared.user_message.seq, prepared.assistant_message.seq) == (3, 4)


def test_a_replayed_client_id_costs_no_extra_lookup_and_returns_the_first_turn(chat) -> None:
    _, first = turn(chat, "hello", client_id="c1")
    Message.objects.filter(pk=first.assistant_message.pk).update(status=MessageStatus.COMPLETE)
    statements, replayed = turn(chat, "hello", client_id="c1")
    assert (replayed.replayed, replayed.user_message.pk) == (True, first.user_message.pk)
    assert len(statements) == 6, "\n".join(statements)  # key, membership, conversation, state, message, answer


def test_the_copies_a_turn_reads_have_their_tokens_read_in_one_round_trip(chat, monkeypatch) -> None:
    turn(chat, "first")  # the preset and the overrides are kept in this process now
    reads = recorded_cache_reads(monkeypatch)
    statements, _ = turn(chat, "second")
    assert len(reads) == 1, reads
    (tokens,) = reads
    assert any(key.startswith("limit-overrides:version:") for key in tokens), tokens
    assert any(key.startswith("preset-rows:version:") for key in tokens), tokens
    assert len(statements) == 8  # and every row the copies stand for still came from them
