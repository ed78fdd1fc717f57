"""What a websocket handshake may cost its web process before its credential is looked up: a budget per
credential (key or session cookie), and a bound on the handshakes it runs at once, the rest waiting in turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from chatpresets.admission import Overloaded
from chatpresets.asgi import application
from conversations import handshakes
from conversations.consumers import CLOSE_UNAVAILABLE, ConversationConsumer
from tenancy import ws_auth
from tests.clock import Clock
from tests.conversations.test_socket_slots import assert_refused, communicator, opened, refusals

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


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
    budget = handshakes.HandshakeBudget(clock)
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
    assert set(budget.buckets) == {handshakes.digest("cp_key"), handshakes.digest("cp_other")}  # not secrets


def test_credentials_with_a_full_budget_are_forgotten_when_too_many_are_kept(settings, monkeypatch) -> None:
    settings.WEBSOCKET_HANDSHAKE_RATE, settings.WEBSOCKET_HANDSHAKE_BURST = 1.0, 2
    monkeypatch.setattr(handshakes, "HANDSHAKE_CREDENTIALS", 3)
    clock = Clock(50.0)
    budget = handshakes.HandshakeBudget(clock)
    for credential in ("a", "b", "c"):
        budget.spend(credential)
    clock.now += 0.5
    budget.spend("c")  # c's budget is not back yet
    clock.now += 1.0  # a and b are full again; c is not
    budget.spend("d")
    assert set(budget.buckets) == {handshakes.digest("c"), handshakes.digest("d")}


def test_the_credential_is_the_key_else_the_session_cookie(settings) -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"headers": list(headers)}

    session = (b"cookie", f"a=1; {settings.SESSION_COOKIE_NAME}=s3ss".encode())
    assert handshakes.credential_of(scope((b"authorization", b"Bearer cp_k"), session)) == "cp_k"
    assert handshakes.credential_of(scope(session)) == "s3ss"
    assert handshakes.credential_of(scope((b"cookie", b"a=1"))) is None
    assert handshakes.credential_of(scope((b"authorization", b"Basic eA=="))) is None


@pytest.fixture
def slow_handshakes(monkeypatch) -> asyncio.Event:
    """Handshakes that stop in the consumer's authorisation until the event is set."""
    go_on = asyncio.Event()
    authorize = ConversationConsumer.authorize

    async def held(self: ConversationConsumer) -> None:
        await go_on.wait()
        await authorize(self)

    monkeypatch.setattr(ConversationConsumer, "authorize", held)
    return go_on


async def test_handshakes_past_the_process_concurrency_wait_their_turn_then_are_refused(
    chats, settings, slow_handshakes
) -> None:
    settings.WEBSOCKET_HANDSHAKE_CONCURRENCY, settings.WEBSOCKET_HANDSHAKE_WAIT_SECONDS = 1, 0.3
    settings.METRICS_ENABLED, settings.STREAM_RETRY_AFTER_SECONDS = True, 2
    before = refusals("socket_busy")
    first = communicator(chats["alice"])
    first_connecting = asyncio.create_task(first.connect())
    await asyncio.sleep(0.05)
    assert handshakes.queue.running == 1
    await assert_refused(chats["bob"], "socket_busy", 1)  # waited 0.3 s behind alice's
    assert refusals("socket_busy") - before == 1
    waiting = communicator(chats["carol"])
    carol_connecting = asyncio.create_task(waiting.connect())
    await asyncio.sleep(0.05)
    assert handshakes.queue.waiting_now() == 1
    slow_handshakes.set()  # alice's accept hands her place to carol, who was waiting
    assert (await asyncio.wait_for(first_connecting, 2))[0]
    assert (await asyncio.wait_for(carol_connecting, 2))[0]  # while alice's socket stays open
    assert handshakes.queue.running == 0
    assert handshakes.queue.waiting_now() == 0
    for socket in (first, waiting):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
        await socket.disconnect()


async def test_a_handshake_refused_inside_gives_its_place_back(chats, settings) -> None:
    settings.WEBSOCKET_HANDSHAKE_CONCURRENCY = 1
    socket = communicator(chats["carol"], chats["alice"]["path"])  # carol is not in acme: 4404
    await socket.connect()
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4404}
    assert handshakes.queue.running == 0
    await socket.disconnect()
    failing = communicator(chats["alice"], "/ws/orgs/acme/nowhere/")  # no route: the application raises
    with pytest.raises(ValueError, match="No route found"):
        await failing.connect()
    assert handshakes.queue.running == 0
    alice = await opened(chats["alice"])
    await alice.disconnect()


async def test_the_queue_hands_places_over_in_order_and_skips_waiters_that_gave_up(settings) -> None:
    settings.WEBSOCKET_HANDSHAKE_CONCURRENCY, settings.WEBSOCKET_HANDSHAKE_WAIT_SECONDS = 1, 5.0
    queue = handshakes.HandshakeQueue()
    order: list[str] = []

    async def handshake(name: str) -> None:
        await queue.enter()
        order.append(name)

    await queue.enter()  # running: one, the limit
    waiters = {name: asyncio.create_task(handshake(name)) for name in ("a", "b", "c")}
    await asyncio.sleep(0.01)
    waiters["b"].cancel()  # its client left while it waited
    await asyncio.sleep(0.01)
    assert queue.waiting_now() == 2
    queue.leave()
    await asyncio.sleep(0.01)
    assert order == ["a"]
    queue.leave()  # b gave up: c is next
    await asyncio.sleep(0.01)
    assert order == ["a", "c"]
    queue.leave()
    assert (queue.running, len(queue.waiting)) == (0, 0)


async def test_a_place_given_up_but_still_in_line_is_passed_over(settings) -> None:
    """A wait that timed out has its place cancelled before its handler runs again: a leave() in between
    must pass over it (setting its result would raise) and keep the count."""
    settings.WEBSOCKET_HANDSHAKE_CONCURRENCY = 1
    queue = handshakes.HandshakeQueue()
    await queue.enter()
    waiter = asyncio.create_task(queue.enter())
    await asyncio.sleep(0.01)
    queue.waiting[0].cancel()  # as wait_for's timeout does
    queue.leave()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (queue.running, queue.waiting_now()) == (0, 0)
    await queue.enter()
    assert queue.running == 1
