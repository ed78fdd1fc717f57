"""Each websocket turn is a request of its own: its id is in its `ack`, on its log lines and audit
events, with the socket's id beside it as `connection_id`; the socket's own events keep the socket's id."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from audit.models import AuditEvent
from chatpresets.asgi import application
from chatpresets.logging import RequestContextFilter
from tenancy.denials import DENIED
from tenancy.key_use import USED_TODAY
from tenancy.models import Membership, Role
from tests.conversations.test_websocket import frames_until_done

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


class Collected(logging.Handler):
    """Every record at INFO and above, with the ids the production filter gives it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.addFilter(RequestContextFilter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({"message": record.getMessage(), "request_id": record.request_id, **record.context_ids})


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, Any]]]:
    handler, root = Collected(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


async def open_socket(chat: dict[str, Any]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application, chat["path"], headers=[(b"authorization", f"Bearer {chat['key']}".encode())]
    )
    assert (await socket.connect())[0]
    return socket


async def turn(socket: WebsocketCommunicator, content: str) -> list[dict[str, Any]]:
    await socket.send_json_to({"type": "send", "content": content})
    return await frames_until_done(socket)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


async def test_each_turn_has_its_own_request_id_under_the_sockets(chat, log_lines) -> None:
    socket = await open_socket(chat)
    (key_used,) = await sync_to_async(events)(USED_TODAY)  # the handshake's: the socket's own id
    connection_id = key_used.request_id
    turns = [await turn(socket, "one"), await turn(socket, "two")]
    await socket.disconnect()

    assert [(frames[0]["type"], frames[-1]["type"]) for frames in turns] == [("ack", "done")] * 2
    acks = [frames[0]["request_id"] for frames in turns]
    assert len({connection_id, *acks}) == 3
    assert all(acks)
    finished = [line for line in log_lines if line["message"].startswith("model call finished")]
    assert [line["request_id"] for line in finished] == acks
    assert [line["connection_id"] for line in finished] == [connection_id] * 2
    assert [line["message_id"] for line in finished] == [frames[-1]["message"]["id"] for frames in turns]


async def test_a_turn_refused_on_an_open_socket_is_audited_under_the_turns_id(chat, acme, alice) -> None:
    socket = await open_socket(chat)
    (key_used,) = await sync_to_async(events)(USED_TODAY)
    # Demoted without the change's notice (a queryset update sends none): the turn's own check refuses it.
    await sync_to_async(Membership.objects.filter(org=acme, user=alice).update)(role=Role.VIEWER)
    await socket.send_json_to({"type": "send", "content": "one"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "access_revoked"
    await socket.disconnect()
    (denied,) = await sync_to_async(events)(DENIED)
    assert denied.request_id not in ("", key_used.request_id)
