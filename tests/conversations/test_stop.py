"""A stop reaches the answer being written, whichever socket, request or process started it."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.core.cache import cache

from chatpresets.llm import gateway
from conversations import turns
from conversations.models import Message
from tests.conversations.test_websocket import communicator, frames_until_done, reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


class _Chunks:
    """A model stream whose next chunk arrives when the test says so."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> dict:
        await self.ready.wait()
        self.ready.clear()
        return {"choices": [{"delta": {"content": "w "}, "finish_reason": None}]}


async def test_a_stop_that_lands_as_a_chunk_arrives_is_not_lost() -> None:
    # asyncio.wait_for on Python 3.11 returns the chunk and drops the cancel when both are ready at once.
    chunks, seen = _Chunks(), []

    async def on_delta(text: str) -> None:
        seen.append(text)

    spec = SimpleNamespace(ttft_timeout=5.0, total_timeout=5.0)
    result = gateway.StreamResult(model="fake")
    task = asyncio.create_task(gateway._consume(chunks, spec, asyncio.get_running_loop().time(), result, on_delta))
    await asyncio.sleep(0.01)
    chunks.ready.set()  # the chunk is ready in the same loop turn as the stop
    task.cancel()
    await asyncio.sleep(0.05)
    assert task.cancelled()


async def start_answer(chat, fake_llm) -> tuple[str, list[dict]]:
    """A socket that sends, sees two deltas and drops: the answer goes on without it."""
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05
    first = communicator(chat["path"], chat["key"])
    await first.connect()
    await first.send_json_to({"type": "send", "content": "Count slowly"})
    assert (await first.receive_json_from())["type"] == "ack"
    seen = [await first.receive_json_from(), await first.receive_json_from()]
    await first.disconnect()
    return seen[0]["message_id"], seen


async def stored_answer(chat) -> Message:
    return await sync_to_async(Message.objects.get)(conversation=chat["conversation"], role="assistant")


async def assert_stored_cancelled(chat) -> None:
    """The answer ends `cancelled` part-way within five seconds (a stop needs no socket to report it)."""
    for _ in range(50):
        if (await stored_answer(chat)).status == "cancelled":
            break
        await asyncio.sleep(0.1)
    answer = await stored_answer(chat)
    assert answer.status == "cancelled"
    assert len(answer.content.split()) < 200


@pytest.mark.parametrize("named", [True, False], ids=["by-id", "whatever-is-streaming"])
async def test_a_reconnected_socket_stops_the_answer_its_predecessor_started(chat, fake_llm, named) -> None:
    message_id, _ = await start_answer(chat, fake_llm)
    second = communicator(chat["path"], chat["key"])
    await second.connect()
    await second.send_json_to({"type": "resume", "message_id": message_id, "after_seq": 2})
    await second.send_json_to({"type": "stop", **({"message_id": message_id} if named else {})})

    done = (await frames_until_done(second))[-1]

    assert done["type"] == "done"
    assert done["message"]["status"] == "cancelled"
    answer = await stored_answer(chat)
    assert (answer.status, answer.content) == ("cancelled", done["message"]["content"])
    assert 2 <= len(answer.content.split()) < 200
    await second.disconnect()


async def test_a_stop_from_a_socket_that_did_not_resume_still_stops_the_answer(chat, fake_llm) -> None:
    await start_answer(chat, fake_llm)
    second = communicator(chat["path"], chat["key"])
    await second.connect()
    await second.send_json_to({"type": "stop"})
    await second.send_json_to({"type": "ping"})
    assert (await reply(second))["type"] == "pong"
    await assert_stored_cancelled(chat)
    await second.disconnect()


async def test_a_stop_for_an_answer_in_another_process_is_seen_by_its_flusher(chat, fake_llm, settings) -> None:
    settings.STREAM_FLUSH_SECONDS = 0.1
    message_id, _ = await start_answer(chat, fake_llm)
    # What a socket in another process leaves: the shared flag, and nothing in this process's STOPPED.
    await cache.aset(turns.STOP_FLAG.format(message_id), True, timeout=60)
    await assert_stored_cancelled(chat)


async def test_a_stop_names_only_answers_of_this_conversation(chat, fake_llm) -> None:
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    for bad, code in [(7, "invalid"), ("00000000-0000-0000-0000-000000000000", "not_found"), ("x\x00", "not_found")]:
        await socket.send_json_to({"type": "stop", "message_id": bad})
        assert (await reply(socket))["code"] == code
    await socket.send_json_to({"type": "stop"})  # nothing streaming: nothing to do, and no error
    await socket.send_json_to({"type": "ping"})
    assert (await reply(socket))["type"] == "pong"
    await socket.disconnect()


async def test_a_socket_stops_an_answer_streaming_over_http(live, fake_llm) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05
    conversation, auth = live["conversation"], {"Authorization": f"Bearer {live['key']}"}
    url = f"{live['base']}/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
    socket_url = live["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{conversation.pk}/"
    events: list[dict] = []
    async with aiohttp.ClientSession() as session:
        headers = {**auth, "Accept": "text/event-stream"}
        async with session.post(url, json={"content": "Count slowly", "stream": True}, headers=headers) as response:
            async for raw in response.content:
                line = raw.decode().strip()
                if not line.startswith("data: "):
                    continue
                events.append(json.loads(line[6:]))
                if len(events) == 3:  # the ack and two deltas: a socket of the same caller stops it
                    async with session.ws_connect(socket_url, headers=auth) as socket:
                        await socket.send_json({"type": "stop"})
                        await socket.send_json({"type": "ping"})
                        assert (await socket.receive_json(timeout=10))["type"] == "pong"
                if events[-1]["type"] in ("done", "error"):
                    break
    assert events[-1]["type"] == "done"
    assert events[-1]["message"]["status"] == "cancelled"
    answer = await sync_to_async(Message.objects.get)(conversation=conversation, role="assistant")
    assert (answer.status, answer.content) == ("cancelled", events[-1]["message"]["content"])
