"""While its process drains (SIGTERM), a websocket turn is refused with an error frame and stores nothing;
the drain waits for answers within the grace period and interrupts the rest."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import weakref

import pytest
from channels.db import database_sync_to_async as sync_to_async

from chatpresets import shutdown
from conversations.models import Message
from tests.conversations.test_websocket import communicator, frames_until_done

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


class Holder:
    """What an admitted turn holds until it ends (a stream slot)."""


@pytest.fixture
def drained(monkeypatch) -> None:
    """A process about to drain, whose last frames need no time."""
    monkeypatch.setattr(shutdown, "_draining", threading.Event())
    monkeypatch.setattr(shutdown, "_interrupting", False)
    monkeypatch.setattr(shutdown, "_admitted", weakref.WeakSet())
    monkeypatch.setattr(shutdown, "LAST_FRAMES_SECONDS", 0)


@pytest.mark.usefixtures("drained")
async def test_a_turn_admitted_before_the_drain_but_not_yet_streaming_is_waited_for_and_interrupted() -> None:
    turn = Holder()
    shutdown.admitted(turn)  # past admission, its message being stored: no model call yet
    drain = asyncio.create_task(shutdown.drain(grace_seconds=0.2))
    await asyncio.sleep(0.4)
    assert not drain.done()  # past the grace, still waiting for the turn it counted
    interrupted: list[str] = []
    await asyncio.wait_for(_answer_for("late", 30, interrupted), 1)  # its stream starts: interrupted at once
    assert interrupted == ["late"]
    assert not drain.done()  # until the turn has stored its answer and given back its holds
    shutdown.ended(turn)
    await asyncio.wait_for(drain, 1)


@pytest.mark.usefixtures("drained")
async def test_a_turn_finished_within_the_grace_ends_the_drain_early() -> None:
    turn = Holder()
    shutdown.admitted(turn)
    drain = asyncio.create_task(shutdown.drain(grace_seconds=30))
    await asyncio.sleep(0.1)
    shutdown.ended(turn)
    shutdown.ended(turn)  # idempotent
    await asyncio.wait_for(drain, 1)


@pytest.mark.usefixtures("drained")
def test_a_turn_admitted_while_draining_is_refused_and_not_counted() -> None:
    shutdown._draining.set()
    with pytest.raises(shutdown.ShuttingDown):
        shutdown.admitted(Holder())
    assert len(shutdown._admitted) == 0


@pytest.mark.usefixtures("drained")
def test_a_turn_dropped_without_its_release_is_no_longer_waited_for() -> None:
    shutdown.admitted(Holder())  # a bug's leak: nothing holds it any more
    gc.collect()
    assert len(shutdown._admitted) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("drained")
async def test_a_websocket_turn_is_counted_until_its_answer_is_stored(chat, fake_llm, monkeypatch) -> None:
    counted: list[int] = []
    streaming = shutdown.streaming

    @contextlib.contextmanager
    def counting(interrupt):
        counted.append(len(shutdown._admitted))
        with streaming(interrupt):
            yield

    monkeypatch.setattr(shutdown, "streaming", counting)
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "Hello", "client_id": "c1"})
    assert (await frames_until_done(socket))[-1]["type"] == "done"
    await socket.disconnect()
    assert counted
    assert set(counted) == {1}  # while it streamed
    assert len(shutdown._admitted) == 0  # and no longer once it was finished
