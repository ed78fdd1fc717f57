"""One conversation websocket may send WEBSOCKET_FRAME_RATE frames a second in bursts of WEBSOCKET_FRAME_BURST;
past that a frame is not read, and a socket that floods is closed."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from chatpresets.asgi import application
from chatpresets.observability import metrics
from conversations.consumers import CLOSE_TOO_MANY_FRAMES
from conversations.frame_budget import FLOOD_FRAMES, FrameBudget, TooManyFrames
from conversations.models import Message
from tests.clock import Clock


def test_a_burst_then_the_rate_then_a_refusal_that_says_when() -> None:
    clock = Clock(100.0)
    budget = FrameBudget(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        budget.spend()
    with pytest.raises(TooManyFrames) as refused:
        budget.spend()
    assert refused.value.details == {"limit_value": 2.0, "burst": 3, "retry_after": 1}
    clock.now += 0.5  # one token back at 2 a second
    budget.spend()
    clock.now += 60  # a quiet minute refills to the burst, not past it
    for _ in range(3):
        budget.spend()
    with pytest.raises(TooManyFrames):
        budget.spend()


def test_a_slow_rate_tells_the_whole_wait() -> None:
    budget = FrameBudget(rate=0.25, burst=1, clock=Clock(100.0))
    budget.spend()
    with pytest.raises(TooManyFrames) as refused:
        budget.spend()
    assert refused.value.details["retry_after"] == 4


def refuse(budget: FrameBudget, times: int) -> None:
    for _ in range(times):
        with pytest.raises(TooManyFrames):
            budget.spend()


def test_a_socket_may_have_its_tolerance_refused_and_one_more_each_second() -> None:
    clock = Clock(100.0)
    budget = FrameBudget(rate=0.5, burst=1, clock=clock)
    budget.spend()
    refuse(budget, FLOOD_FRAMES)
    assert not budget.flooding
    clock.now += 1.0  # half a token, and one refusal's tolerance back
    refuse(budget, 1)
    assert not budget.flooding
    refuse(budget, 1)
    assert budget.flooding


def test_refusals_spread_out_never_flood() -> None:
    """Over the rate now and then, with frames read between: the tolerance comes back faster than it goes."""
    clock = Clock(100.0)
    budget = FrameBudget(rate=1.0, burst=1, clock=clock)
    for _ in range(10 * FLOOD_FRAMES):
        budget.spend()
        refuse(budget, 1)
        clock.now += 1.0
    assert not budget.flooding


def test_refusals_between_admitted_frames_still_flood() -> None:
    """Twenty sockets' worth of frames: each second ten are read, fifty refused."""
    clock = Clock(100.0)
    budget = FrameBudget(rate=10.0, burst=10, clock=clock)
    seconds = 0
    while not budget.flooding:
        for _ in range(10):
            budget.spend()
        refuse(budget, 50)
        clock.now += 1.0
        seconds += 1
    assert seconds == 2


async def socket_for(chat: dict) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application, chat["path"], headers=[(b"authorization", f"Bearer {chat['key']}".encode())]
    )
    connected, _ = await socket.connect()
    assert connected
    return socket


def refused(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("chatpresets_websocket_refusals_total", {"reason": reason}) or 0.0


@pytest.mark.django_db(transaction=True)
async def test_frames_past_the_budget_are_refused_unread_and_the_socket_stays(chat, settings, fake_llm) -> None:
    settings.WEBSOCKET_FRAME_RATE, settings.WEBSOCKET_FRAME_BURST, settings.METRICS_ENABLED = 2.0, 3, True
    before = refused("frame_rate")
    socket = await socket_for(chat)
    for _ in range(3):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from() == {"type": "pong"}
    await socket.send_json_to({"type": "send", "content": "one too many", "client_id": "c1"})
    frame = await socket.receive_json_from()
    assert (frame["type"], frame["code"]) == ("error", "too_many_frames")
    assert frame["details"] == {"limit_value": 2.0, "burst": 3, "retry_after": 1}
    assert frame["retry_after"] == 1
    assert refused("frame_rate") - before == 1
    assert await sync_to_async(Message.objects.count)() == 0  # the send was not read
    assert fake_llm.requests == []
    await asyncio.sleep(0.6)  # a token back
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_socket_that_floods_is_closed_with_4429(chat, settings) -> None:
    settings.WEBSOCKET_FRAME_RATE, settings.WEBSOCKET_FRAME_BURST, settings.METRICS_ENABLED = 1.0, 1, True
    before = refused("frame_flood")
    socket = await socket_for(chat)
    for _ in range(1 + FLOOD_FRAMES + 1):
        await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    for _ in range(FLOOD_FRAMES):
        assert (await socket.receive_json_from())["code"] == "too_many_frames"
    assert await socket.receive_output() == {"type": "websocket.close", "code": CLOSE_TOO_MANY_FRAMES}
    assert refused("frame_flood") - before == 1
    await socket.disconnect()
