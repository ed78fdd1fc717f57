"""A web process caps the conversation websockets it holds open, in all and for each caller."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from chatpresets.admission import Overloaded
from chatpresets.asgi import application
from chatpresets.observability import metrics
from conversations import socket_slots
from conversations.consumers import CLOSE_UNAVAILABLE, ConversationConsumer
from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tenancy import ws_auth
from tests.clock import Clock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


def chat_of(org: Any, user: Any) -> dict[str, str]:
    conversation = Conversation.objects.create(org=org, user=user)
    _, secret = tenancy_services.api_key_create(org=org, actor=user, name="ws", scopes=["chat"], expires_at=None)
    return {"key": secret, "path": f"/ws/orgs/{org.slug}/conversations/{conversation.pk}/"}


@pytest.fixture
def chats(acme, globex, alice, bob, carol) -> dict[str, dict[str, str]]:
    return {
        name: chat_of(org, user)
        for name, org, user in [("alice", acme, alice), ("bob", acme, bob), ("carol", globex, carol)]
    }


@pytest.fixture
def consumers_made(monkeypatch) -> list[str]:
    """The paths of the conversation consumers made: a refusal at a cap must not make one (it would
    subscribe to the channel layer before its refusal)."""
    made: list[str] = []
    run = ConversationConsumer.__call__

    async def counted(self: ConversationConsumer, scope: Any, receive: Any, send: Any) -> None:
        made.append(scope["path"])
        await run(self, scope, receive, send)

    monkeypatch.setattr(ConversationConsumer, "__call__", counted)
    return made


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


@pytest.fixture
def key_lookups(monkeypatch) -> list[str]:
    """The API keys looked up at handshakes: a handshake past its budget must not cost a lookup."""
    looked_up: list[str] = []
    look_up = ws_auth.api_key_for_secret

    def counted(secret: str, **kwargs: Any) -> Any:
        looked_up.append(secret)
        return look_up(secret, **kwargs)

    monkeypatch.setattr(ws_auth, "api_key_for_secret", counted)
    return looked_up


async def test_a_key_reconnecting_in_a_loop_is_refused_past_its_handshakes_before_its_lookup(
    chats, settings, consumers_made, key_lookups
) -> None:
    settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST = 0.5, 2
    settings.METRICS_ENABLED, settings.STREAM_RETRY_AFTER_SECONDS = True, 2
    before = refusals("socket_rate")
    for _ in range(2):
        socket = await opened(chats["alice"])
        await socket.disconnect()
    await assert_refused(chats["alice"], "socket_rate", 0.5)
    assert refusals("socket_rate") - before == 1
    assert len(consumers_made) == 2
    assert key_lookups == [chats["alice"]["key"]] * 2
    bob = await opened(chats["bob"])  # another key's handshakes are its own
    await bob.disconnect()


async def test_a_session_reconnecting_in_a_loop_is_refused_past_its_handshakes(chats, settings, alice, client) -> None:
    settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST = 0.5, 2
    settings.STREAM_RETRY_AFTER_SECONDS = 2
    await sync_to_async(client.force_login)(alice)
    cookie = f"theme=dark; {settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode()), (b"origin", b"http://localhost")]

    def session_socket() -> WebsocketCommunicator:
        return WebsocketCommunicator(application, chats["alice"]["path"], headers=headers)

    for _ in range(2):
        socket = session_socket()
        assert (await socket.connect())[0]
        await socket.disconnect()
    refused = session_socket()
    await refused.connect()
    frame = await refused.receive_json_from()
    assert (frame["code"], frame["details"]["reason"], frame["retry_after"]) == ("overloaded", "socket_rate", 2)
    assert frame["request_id"]
    assert await refused.receive_output() == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}
    await refused.disconnect()
    alice_key = await opened(chats["alice"])  # the same user's key is another credential
    await alice_key.disconnect()


def test_handshakes_refill_at_the_rate_up_to_the_burst(settings) -> None:
    settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST = 1.0, 2
    clock = Clock(50.0)
    budget = socket_slots.HandshakeBudget(clock)
    budget.spend("cp_key")
    budget.spend("cp_key")
    with pytest.raises(Overloaded) as refused:
        budget.spend("cp_key")
    assert refused.value.details["reason"] == "socket_rate"
    budget.spend("cp_other")
    clock.now += 1.0
    budget.spend("cp_key")
    clock.now += 60.0  # a quiet minute: the burst again, not sixty
    budget.spend("cp_key")
    budget.spend("cp_key")
    with pytest.raises(Overloaded):
        budget.spend("cp_key")
    assert set(budget.buckets) == {socket_slots.digest("cp_key"), socket_slots.digest("cp_other")}  # not secrets


def test_credentials_with_a_full_budget_are_forgotten_when_too_many_are_kept(settings, monkeypatch) -> None:
    settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST = 1.0, 2
    monkeypatch.setattr(socket_slots, "HANDSHAKE_CALLERS", 3)
    clock = Clock(50.0)
    budget = socket_slots.HandshakeBudget(clock)
    for credential in ("a", "b", "c"):
        budget.spend(credential)
    clock.now += 0.5
    budget.spend("c")  # c's budget is not back yet
    clock.now += 1.0  # a and b are full again; c is not
    budget.spend("d")
    assert set(budget.buckets) == {socket_slots.digest("c"), socket_slots.digest("d")}


def test_the_credential_is_the_key_else_the_session_cookie(settings) -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"headers": list(headers)}

    session = (b"cookie", f"a=1; {settings.SESSION_COOKIE_NAME}=s3ss".encode())
    assert socket_slots.credential_of(scope((b"authorization", b"Bearer cp_k"), session)) == "cp_k"
    assert socket_slots.credential_of(scope(session)) == "s3ss"
    assert socket_slots.credential_of(scope((b"cookie", b"a=1"))) is None
    assert socket_slots.credential_of(scope((b"authorization", b"Basic eA=="))) is None
