"""A web process caps the conversation websockets it holds open, in all and for each caller."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from chatpresets.asgi import application
from chatpresets.observability import metrics
from conversations import socket_slots
from conversations.consumers import CLOSE_UNAVAILABLE
from conversations.models import Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


def communicator(chat: dict[str, str], path: str | None = None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {chat['key']}".encode())]
    return WebsocketCommunicator(application, path or chat["path"], headers=headers)


async def opened(chat: dict[str, str]) -> WebsocketCommunicator:
    socket = communicator(chat)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    return socket


async def assert_refused(chat: dict[str, str], reason: str, limit_value: int) -> None:
    """The handshake is refused with an `overloaded` error frame, then close 4503; nothing it sends is read."""
    socket = communicator(chat)
    await socket.connect()
    frame = await socket.receive_json_from()
    assert frame["type"] == "error"
    assert frame["code"] == "overloaded"
    assert frame["details"] == {"reason": reason, "limit_value": limit_value, "retry_after": 2}
    assert frame["retry_after"] == 2
    assert await socket.receive_output() == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}
    await socket.send_json_to({"type": "send", "content": "let me in"})
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


def refusals(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("chatpresets_websocket_refusals_total", {"reason": reason}) or 0.0


async def test_a_caller_past_its_share_is_refused_while_others_connect(
    chats, settings, fake_llm, consumers_made
) -> None:
    settings.WEBSOCKET_MAX_PER_CALLER, settings.METRICS_ENABLED, settings.STREAM_RETRY_AFTER_SECONDS = 2, True, 2
    before = refusals("socket_share")
    first, second = await opened(chats["alice"]), await opened(chats["alice"])
    await assert_refused(chats["alice"], "socket_share", 2)
    assert refusals("socket_share") - before == 1
    assert len(consumers_made) == 2  # the refused handshake never reached a consumer
    other = await opened(chats["bob"])  # the same organisation, another caller
    await first.disconnect()
    third = await opened(chats["alice"])  # a closed socket gave its slot back
    for socket in (second, third, other):
        await socket.disconnect()
    assert fake_llm.requests == []
    assert await sync_to_async(Message.objects.count)() == 0


async def test_the_process_cap_refuses_every_caller_until_a_socket_closes(chats, settings, consumers_made) -> None:
    settings.WEBSOCKET_MAX_OPEN, settings.METRICS_ENABLED, settings.STREAM_RETRY_AFTER_SECONDS = 2, True, 2
    before = refusals("socket_limit")
    alice, bob = await opened(chats["alice"]), await opened(chats["bob"])
    await assert_refused(chats["carol"], "socket_limit", 2)
    await assert_refused(chats["alice"], "socket_limit", 2)
    assert refusals("socket_limit") - before == 2
    assert len(consumers_made) == 2
    await bob.disconnect()
    carol = await opened(chats["carol"])
    for socket in (alice, carol):
        await socket.disconnect()
    assert socket_slots.slots.open == 0
    assert not socket_slots.slots.by_caller


async def test_handshakes_refused_after_their_slot_give_it_back(chats, acme, settings) -> None:
    """A socket refused by its authorisation (not a member, a bad key, a conversation that is not
    there) gives its slot back as it is refused: with room for one socket, one still opens after them."""
    settings.WEBSOCKET_MAX_OPEN = 1
    outsider_path = chats["alice"]["path"]
    cases = [
        (communicator(chats["carol"], outsider_path), 4404),  # carol is not in acme
        (communicator({"key": "cp_not-a-key"}, outsider_path), 4401),
        (communicator(chats["alice"], "/ws/orgs/acme/conversations/00000000-0000-0000-0000-000000000000/"), 4404),
    ]
    for socket, code in cases:
        await socket.connect()
        assert await socket.receive_output() == {"type": "websocket.close", "code": code}
        assert socket_slots.slots.open == 0  # at the refusal, not once the client has gone
        await socket.disconnect()
    alice = await opened(chats["alice"])
    await alice.disconnect()
    assert socket_slots.slots.open == 0


def test_slots_count_each_caller_and_give_back_exactly(settings) -> None:
    settings.WEBSOCKET_MAX_OPEN, settings.WEBSOCKET_MAX_PER_CALLER = 3, 2
    slots = socket_slots.SocketSlots()
    first = slots.take(("u1", None))
    slots.take(("u1", None))
    other = slots.take(("u2", "k2"))
    assert (slots.open, dict(slots.by_caller)) == (3, {("u1", None): 2, ("u2", "k2"): 1})
    other.give_back()
    first.give_back()
    first.give_back()  # a refusal and then the socket's end: given back once
    assert (slots.open, dict(slots.by_caller)) == (1, {("u1", None): 1})


async def test_a_socket_whose_application_fails_gives_its_slot_back(chats) -> None:
    """No route for the path: the router raises under the gate, which still gives the slot back."""
    socket = communicator(chats["alice"], "/ws/orgs/acme/nowhere/")
    with pytest.raises(ValueError, match="No route found"):
        await socket.connect()
    assert socket_slots.slots.open == 0
    assert not socket_slots.slots.by_caller
