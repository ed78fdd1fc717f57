"""Stateless web processes: one conversation's turns and reconnects alternate between two real daphne
processes on the same PostgreSQL and Redis, directly and through nginx (deploy/nginx/chatpresets.conf)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import pytest
from channels.db import database_sync_to_async as sync_to_async

from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tests import nginx
from tests.conversations.conftest import server_env
from tests.server import daphne, spawn_daphne

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER_TOKENS = 60
# The fake model writes `w0 w1 …`, one word every 30 ms: about two seconds of answer, time enough
# to leave one process mid-answer and resume on the other.
FULL_ANSWER = "".join(f"w{i} " for i in range(ANSWER_TOKENS))
QUICK_RECOVERY = {"STREAM_FLUSH_SECONDS": "0.2", "STREAM_ABANDONED_SECONDS": "2"}


@pytest.fixture
def chat(acme, alice) -> dict[str, Any]:
    conversation = Conversation.objects.create(org=acme, user=alice, title="two processes")
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="ws", scopes=["chat"], expires_at=None)
    return {
        "conversation": conversation,
        "path": f"/ws/orgs/acme/conversations/{conversation.pk}/",
        "headers": {"Authorization": f"Bearer {key}"},
    }


@pytest.fixture
def slow_answers(fake_llm):
    fake_llm.config.output_tokens, fake_llm.config.token_delay = ANSWER_TOKENS, 0.03
    return fake_llm


async def next_frame(socket: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next frame answering this socket, skipping other tabs' `message` events."""
    while (frame := await socket.receive_json(timeout=15))["type"] == "message":
        pass
    return frame


async def until_done(socket: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    frames = [await next_frame(socket)]
    while frames[-1]["type"] not in ("done", "error"):
        frames.append(await next_frame(socket))
    return frames


async def start_turn(session: aiohttp.ClientSession, base: str, chat: dict, content: str, *, deltas: int) -> str:
    """Send a turn on `base`, read `deltas` deltas of its answer, leave; the answer's id."""
    url = base.replace("http://", "ws://") + chat["path"]
    async with session.ws_connect(url, headers=chat["headers"]) as socket:
        await socket.send_json({"type": "send", "content": content})
        assert (await next_frame(socket))["type"] == "ack"
        seen = [await next_frame(socket) for _ in range(deltas)]
    assert [frame["seq"] for frame in seen] == list(range(1, deltas + 1))
    return seen[0]["message_id"]


async def resume(session: aiohttp.ClientSession, base: str, chat: dict, message_id: str, after: int) -> list[dict]:
    url = base.replace("http://", "ws://") + chat["path"]
    async with session.ws_connect(url, headers=chat["headers"]) as socket:
        await socket.send_json({"type": "resume", "message_id": message_id, "after_seq": after})
        return await until_done(socket)


async def turn_then_resume_elsewhere(session: aiohttp.ClientSession, chat: dict, start: str, follow: str) -> None:
    """A turn started on one process and resumed mid-answer on another: every delta once, in order."""
    message_id = await start_turn(session, start, chat, "tell me a long story", deltas=3)
    frames = await resume(session, follow, chat, message_id, after=3)
    assert [frame["seq"] for frame in frames[:-1]] == list(range(4, ANSWER_TOKENS + 1))
    assert frames[-1]["type"] == "done"
    assert (frames[-1]["message"]["status"], frames[-1]["message"]["content"]) == ("complete", FULL_ANSWER)


async def test_turns_and_resumes_alternate_between_two_processes(fake_server, slow_answers, chat) -> None:
    env = server_env(fake_server, **QUICK_RECOVERY)
    with daphne(env) as first, daphne(env) as second:
        async with aiohttp.ClientSession() as session:
            await turn_then_resume_elsewhere(session, chat, first, second)
            await turn_then_resume_elsewhere(session, chat, second, first)
    answers = await sync_to_async(list)(
        Message.objects.filter(conversation=chat["conversation"], role="assistant").values_list("content", flat=True)
    )
    assert answers == [FULL_ANSWER, FULL_ANSWER]


async def test_a_process_killed_mid_answer_is_resumed_on_another_as_interrupted(
    fake_server, slow_answers, chat
) -> None:
    env = server_env(fake_server, **QUICK_RECOVERY)
    with daphne(env) as survivor:
        process, doomed = spawn_daphne(env)
        try:
            async with aiohttp.ClientSession() as session:
                message_id = await start_turn(session, doomed, chat, "a story that will not end", deltas=10)
                await asyncio.sleep(0.3)  # past a flush: some text is stored
                process.kill()  # SIGKILL: none of the answer's own clean-up runs
                process.wait(timeout=10)
                frames = await resume(session, survivor, chat, message_id, after=10)
                # The process is gone, so the answer is ended where it is resumed, without waiting for a sweep.
                done = frames[-1]
                assert (done["type"], done["message"]["status"]) == ("done", "interrupted")
                published = [frame["seq"] for frame in frames[:-1]]
                assert published == list(range(11, 11 + len(published)))  # what it published before dying
                assert done["message"]["content"].startswith("w0 w1 w2 ")
                next_answer = await start_turn(session, survivor, chat, "are you still there?", deltas=1)
                assert (await resume(session, survivor, chat, next_answer, after=1))[-1]["message"][
                    "status"
                ] == "complete"
        finally:
            process.kill()
            process.wait(timeout=10)
    questions = await sync_to_async(list)(
        Message.objects.filter(conversation=chat["conversation"], role="user").values_list("content", flat=True)
    )
    assert questions == ["a story that will not end", "are you still there?"]  # no user message lost


async def test_other_tabs_hear_of_an_answer_finished_on_another_process(fake_server, fake_llm, chat) -> None:
    fake_llm.config.output_tokens = 3
    env = server_env(fake_server)
    with daphne(env) as first, daphne(env) as second:
        async with aiohttp.ClientSession() as session:
            listen_url = first.replace("http://", "ws://") + chat["path"]
            async with session.ws_connect(listen_url, headers=chat["headers"]) as other_tab:
                await other_tab.send_json({"type": "ping"})
                assert (await other_tab.receive_json(timeout=10))["type"] == "pong"  # joined its group
                message_id = await start_turn(session, second, chat, "hello from the other tab", deltas=1)
                event = await other_tab.receive_json(timeout=10)
    assert event["type"] == "message"
    assert (event["message"]["id"], event["message"]["content"]) == (message_id, "w0 w1 w2 ")


@pytest.mark.skipif(not nginx.installed(), reason="Debian's nginx is not installed")
async def test_through_nginx_turns_and_resumes_land_on_both_processes(fake_server, slow_answers, chat) -> None:
    env = server_env(fake_server, **QUICK_RECOVERY)
    with daphne(env) as first, daphne(env) as second:
        upstreams = [first.removeprefix("http://"), second.removeprefix("http://")]
        with nginx.nginx(upstreams) as (front, access_log):
            async with aiohttp.ClientSession() as session:
                for _ in range(2):  # round robin: each socket goes to the other process
                    await turn_then_resume_elsewhere(session, chat, front, front)
                sse = await session.post(
                    front + f"/api/v1/orgs/acme/conversations/{chat['conversation'].pk}/messages/",
                    json={"content": "and over SSE", "stream": True},
                    headers=chat["headers"],
                )
                events = [line async for line in sse.content if line.startswith(b"data: ")]
            log = access_log.read_text().splitlines()  # the directory goes with nginx
    assert sse.status == 200
    assert len(events) > ANSWER_TOKENS  # every delta came through, then the end
    sockets = [line.split()[-1] for line in log if line.startswith("GET /ws/")]
    assert set(sockets) == set(upstreams)  # both processes served this conversation's sockets
    assert all(a != b for a, b in itertools.pairwise(sockets))  # in turn: turn and resume never on one
