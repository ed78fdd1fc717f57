"""While its process drains (SIGTERM), a websocket turn is refused with an error frame and stores nothing;
the drain waits for answers within the grace period and interrupts the rest."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from channels.db import database_sync_to_async as sync_to_async

from chatpresets import shutdown
from conversations.models import Message
from tests.conversations.test_websocket import communicator

pytestmark = pytest.mark.usefixtures("fake_llm")


@pytest.fixture
def draining(monkeypatch) -> None:
    started = threading.Event()
    started.set()
    monkeypatch.setattr(shutdown, "_draining", started)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("draining")
async def test_a_websocket_turn_while_draining_gets_a_shutting_down_frame_and_stores_nothing(chat) -> None:
    socket = communicator(chat["path"], chat["key"])
    connected, _ = await socket.connect()
    assert connected  # still open: a socket may resume an answer that is finishing here
    await socket.send_json_to({"type": "send", "content": "Hello", "client_id": "c1"})
    frame = await socket.receive_json_from(timeout=5)
    await socket.disconnect()
    assert frame["type"] == "error"
    assert frame["code"] == "shutting_down"
    assert frame["retry_after"] == 1
    assert not await sync_to_async(Message.objects.filter(conversation=chat["conversation"]).exists)()


async def test_the_drain_waits_for_an_answer_within_the_grace_and_interrupts_one_past_it(monkeypatch) -> None:
    monkeypatch.setattr(shutdown, "_draining", threading.Event())
    monkeypatch.setattr(shutdown, "_interrupting", False)
    monkeypatch.setattr(shutdown, "LAST_FRAMES_SECONDS", 0)
    interrupted: list[str] = []

    quick = asyncio.create_task(_answer_for("quick", 0.2, interrupted))
    slow = asyncio.create_task(_answer_for("slow", 30, interrupted))
    uninterruptible = asyncio.create_task(_call_for(30))
    await asyncio.sleep(0)
    await asyncio.wait_for(shutdown.drain(grace_seconds=0.5), 2)  # not held up by the call it cannot end
    await asyncio.gather(quick, slow)
    assert interrupted == ["slow"]
    assert not uninterruptible.done()
    uninterruptible.cancel()  # as daphne does once the drain is over
    with contextlib.suppress(asyncio.CancelledError):
        await uninterruptible
    assert shutdown.draining()
    assert shutdown.in_flight() == 0


async def _call_for(seconds: float) -> None:
    """A call only its transport can end (a /v1 call)."""
    with shutdown.streaming(None):
        await asyncio.sleep(seconds)


async def _answer_for(name: str, seconds: float, interrupted: list[str]) -> None:
    """An answer that streams for `seconds` unless interrupted first."""
    ended = asyncio.Event()

    def interrupt() -> None:
        interrupted.append(name)
        ended.set()

    with shutdown.streaming(interrupt), contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ended.wait(), seconds)
