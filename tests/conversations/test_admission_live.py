"""The gate before admission, against a real daphne process: a burst from one caller is refused at once
on every transport, stores nothing and reaches no model, while another caller's turns still get in."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from conversations.models import Conversation, UsageRecord
from tests.conversations.conftest import server_env
from tests.conversations.test_overload_live import auth, chat_key, messages_path
from tests.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)

GATE = {
    "TURN_ADMISSION_MAX_PENDING": "4",
    "TURN_ADMISSION_IDLE_LIMIT": "4",
    "STREAM_ORG_SHARE": "0.5",
    "MAX_CONCURRENT_STREAMS": "100",
}
GATE_REASONS = {"admission_share", "admission_queue", "admission_limit"}
BURST = 24


async def timed_completion(
    session: aiohttp.ClientSession, base: str, key: str, content: str
) -> tuple[int, dict, float]:
    """Status, the error (if refused) and the seconds to the response's status line."""
    body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": content}]}
    began = time.monotonic()
    async with session.post(base + "/v1/chat/completions", json=body, headers=auth(key)) as response:
        took = time.monotonic() - began
        if response.status != 200:
            payload = await response.json()
            refusal = payload["error"] | {"retry_after": response.headers.get("Retry-After")}
            return response.status, refusal | {"request_id": response.headers.get("X-Request-ID")}, took
        await response.read()
        return 200, {}, took


async def burst_and_quiet_turns(base: str, flood_key: str, quiet_key: str) -> tuple[list, list]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        flood = [timed_completion(session, base, flood_key, "flood") for _ in range(BURST)]
        *flooded, quiet = await asyncio.gather(*flood, timed_completion(session, base, quiet_key, "quiet"))
    return flooded, quiet


async def socket_burst(base: str, paths: list[str], key: str) -> list[dict]:
    """A turn sent at once on each socket; the first frame each gets back, then a ping's answer."""
    async with aiohttp.ClientSession() as session:
        origin = base.replace("http://", "ws://")
        sockets = [await session.ws_connect(origin + path, headers=auth(key)) for path in paths]
        await asyncio.gather(*(socket.send_json({"type": "send", "content": "burst"}) for socket in sockets))
        firsts = await asyncio.gather(*(socket.receive_json(timeout=10) for socket in sockets))
        refused = [socket for socket, frame in zip(sockets, firsts, strict=True) if frame["type"] == "error"]
        for socket in refused:  # a refused turn leaves the socket open and working
            await socket.send_json({"type": "ping"})
            assert (await socket.receive_json(timeout=5)) == {"type": "pong"}
        for socket in sockets:
            await socket.close()
    return firsts


def test_a_burst_from_one_caller_is_refused_at_once_and_another_callers_turns_get_in(
    fake_server, fake_llm, acme, alice, globex, carol
) -> None:
    flood_key, quiet_key = chat_key(globex, carol), chat_key(acme, alice)
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 5, 0.01
    with daphne(server_env(fake_server, **GATE)) as base:
        asyncio.run(burst_and_quiet_turns(base, quiet_key, flood_key))  # warm both callers' paths
        fake_llm.requests.clear()
        records_before = UsageRecord.objects.filter(user=carol).count()
        flooded, quiet = asyncio.run(burst_and_quiet_turns(base, flood_key, quiet_key))

    refusals = [(error, took) for status, error, took in flooded if status == 503]
    answered = [status for status, _, _ in flooded if status == 200]
    assert len(refusals) >= BURST // 2, flooded
    assert len(refusals) + len(answered) == BURST, flooded
    assert {(error["code"], error["type"]) for error, _ in refusals} == {("overloaded", "service_unavailable_error")}
    assert all(error["request_id"] for error, _ in refusals)
    assert {error["details"]["reason"] for error, _ in refusals} <= GATE_REASONS
    assert {error["retry_after"] for error, _ in refusals} == {"2"}
    slowest = max(took for _, took in refusals)
    assert slowest < 0.1, f"the slowest refusal took {slowest * 1000:.0f} ms"
    assert quiet[0] == 200, quiet  # a person's one turn, sent in the middle of the burst
    asked = [request["messages"][-1]["content"] for request in fake_llm.requests]
    assert asked.count("flood") == len(answered)  # no refused turn reached the model
    assert UsageRecord.objects.filter(user=carol).count() == records_before + len(answered)


def test_a_burst_of_turns_over_websockets_gets_error_frames_and_the_sockets_stay_open(
    fake_server, fake_llm, globex, carol
) -> None:
    key = chat_key(globex, carol)
    conversations = [Conversation.objects.create(org=globex, user=carol) for _ in range(12)]
    paths = [f"/ws/orgs/globex/conversations/{conversation.pk}/" for conversation in conversations]
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 5, 0.01
    with daphne(server_env(fake_server, **GATE)) as base:
        firsts = asyncio.run(socket_burst(base, paths, key))

    errors = [frame for frame in firsts if frame["type"] == "error"]
    assert errors, firsts
    assert {(frame["code"], frame["retry_after"]) for frame in errors} == {("overloaded", 2)}
    assert {frame["type"] for frame in firsts} <= {"ack", "error"}
    stored = Conversation.objects.filter(user=carol, messages__role="user").count()
    assert stored == len(firsts) - len(errors)  # a refused turn stored no message


def test_messages_path_is_gated_too(fake_server, fake_llm, acme, alice) -> None:
    key = chat_key(acme, alice)
    paths = [messages_path(acme, alice) for _ in range(BURST)]
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 5, 0.01

    async def burst(base: str) -> list[tuple[int, dict]]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one(path: str) -> tuple[int, dict]:
                async with session.post(base + path, json={"content": "hi"}, headers=auth(key)) as response:
                    return response.status, await response.json()

            return await asyncio.gather(*(one(path) for path in paths))

    with daphne(server_env(fake_server, **GATE)) as base:
        results = asyncio.run(burst(base))
    refused = [body["error"] for status, body in results if status == 503]
    assert refused, results
    assert {error["details"]["reason"] for error in refused} <= GATE_REASONS
    assert {status for status, _ in results} <= {201, 503}
