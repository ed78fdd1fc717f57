"""SIGTERM drains a real daphne process: answers in flight finish within the grace period, the rest
end `interrupted` with their text and their holds settled, and new turns are refused meanwhile."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import aiohttp
import httpx
import pytest

from conversations.models import Conversation, Message, UsageRecord
from tenancy import services as tenancy_services
from tests.conversations.conftest import server_env
from tests.conversations.test_guardrails import limit
from tests.conversations.test_quota_holds import used_and_held
from tests.server import spawn_daphne

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 100_000
SLOW_MODEL = {"ttft_timeout": 5.0, "total_timeout": 60.0}


@pytest.fixture
def chat(acme, alice) -> dict:
    """Two conversations of alice's and the headers of a chat key of hers."""
    limit(acme, user_tokens_day=BUDGET)  # so the turns hold tokens, and the test can see them released
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="drain", scopes=["chat"], expires_at=None)
    first, second = (Conversation.objects.create(org=acme, user=alice) for _ in range(2))
    return {
        "paths": [f"/api/v1/orgs/acme/conversations/{c.pk}/messages/" for c in (first, second)],
        "conversation": first,
        "second": second,
        "headers": {"Authorization": f"Bearer {key}"},
    }


def stream_and_terminate(base: str, process, chat: dict, *, during_grace=None) -> tuple[dict, float]:
    """Stream a turn, SIGTERM the server at its first delta (then call `during_grace`); the last frame
    and when the signal went."""
    body = {"content": "a long answer, please", "stream": True}
    frames, signalled = [], 0.0
    with httpx.stream("POST", base + chat["paths"][0], json=body, headers=chat["headers"], timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            frames.append(json.loads(line.removeprefix("data: ")))
            if frames[-1]["type"] == "delta" and not signalled:
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                if during_grace is not None:
                    during_grace()
    return frames[-1], signalled


def stored_answer(chat: dict) -> Message:
    return Message.objects.get(conversation=chat["conversation"], role="assistant")


def test_an_answer_that_ends_within_the_grace_period_completes_and_new_turns_are_refused(
    fake_server, fake_llm, chat, acme, alice
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 20, 0.1  # two seconds of answer
    env = server_env(fake_server, model=SLOW_MODEL, SHUTDOWN_GRACE_SECONDS="10")
    process, base = spawn_daphne(env)
    refused: dict[str, httpx.Response] = {}

    def during_grace() -> None:
        time.sleep(0.2)  # the signal is handled on the server's loop
        refused["turn"] = httpx.post(base + chat["paths"][1], json={"content": "me too"}, headers=chat["headers"])
        refused["readyz"] = httpx.get(base + "/readyz")

    try:
        last, signalled = stream_and_terminate(base, process, chat, during_grace=during_grace)
        process.wait(timeout=15)
        exited_after = time.monotonic() - signalled
    finally:
        process.kill()
        process.wait(timeout=10)
    assert last["type"] == "done"
    assert last["message"]["status"] == "complete"
    answer = stored_answer(chat)
    assert answer.status == "complete"
    assert answer.content.startswith("w0 ")
    assert exited_after < 7  # it did not wait out the 10 s grace period once the answer ended
    assert refused["turn"].status_code == 503
    assert refused["turn"].json()["error"]["code"] == "shutting_down"
    assert refused["turn"].headers["Retry-After"] == "1"
    assert refused["readyz"].status_code == 503
    assert refused["readyz"].json()["status"] == "draining"
    # The refused turn stored nothing.
    assert not Message.objects.filter(conversation=chat["second"]).exists()
    assert used_and_held(acme, alice)[1] == 0


def test_an_answer_still_streaming_when_the_grace_runs_out_is_interrupted_with_its_text_and_holds_freed(
    fake_server, fake_llm, chat, acme, alice
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05  # ten seconds of answer
    grace = 1.5
    env = server_env(fake_server, model=SLOW_MODEL, SHUTDOWN_GRACE_SECONDS=str(grace))
    process, base = spawn_daphne(env)
    try:
        last, signalled = stream_and_terminate(base, process, chat)
        process.wait(timeout=grace + 10)
        exited_after = time.monotonic() - signalled
    finally:
        process.kill()
        process.wait(timeout=10)
    assert last["type"] == "done"
    assert last["message"]["status"] == "interrupted"
    assert grace <= exited_after < grace + 6  # the grace, then a few seconds to settle and stop
    answer = stored_answer(chat)
    assert answer.status == "interrupted"
    assert answer.content.startswith("w0 ")
    assert answer.content == last["message"]["content"]
    assert len(answer.content.split()) < 200  # cut short
    record = UsageRecord.objects.get(message=answer)
    assert (record.status, record.completion_tokens) == ("interrupted", answer.completion_tokens)
    assert record.completion_tokens > 0
    used, held = used_and_held(acme, alice)
    assert held == 0  # the hold settled to what the answer used
    assert used == record.prompt_tokens + record.completion_tokens


def test_a_websocket_answer_is_interrupted_at_once_by_a_second_sigterm(fake_server, fake_llm, chat) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05  # ten seconds of answer
    env = server_env(fake_server, model=SLOW_MODEL, SHUTDOWN_GRACE_SECONDS="30")
    process, base = spawn_daphne(env)
    try:
        frames, refusal, signalled = asyncio.run(_websocket_turn_through_two_sigterms(base, process, chat))
        process.wait(timeout=10)
        exited_after = time.monotonic() - signalled
    finally:
        process.kill()
        process.wait(timeout=10)
    assert exited_after < 8  # far inside the 30 s grace: the second signal cut it short
    assert refusal["type"] == "error"
    assert refusal["code"] == "shutting_down"
    assert refusal["retry_after"] == 1
    assert frames[-1]["type"] == "done"
    assert frames[-1]["message"]["status"] == "interrupted"
    answer = stored_answer(chat)
    assert answer.status == "interrupted"
    assert answer.content == "".join(f["text"] for f in frames if f["type"] == "delta")
    assert not Message.objects.filter(conversation=chat["second"]).exists()


async def _websocket_turn_through_two_sigterms(base: str, process, chat: dict) -> tuple[list, dict, float]:
    """Stream a turn over a socket; at its first delta SIGTERM the server, try a turn on a new socket
    (refused), then SIGTERM again. The first socket's frames, the refusal, and when the first signal went."""
    ws = base.replace("http://", "ws://")
    urls = [f"{ws}/ws/orgs/acme/conversations/{c.pk}/" for c in (chat["conversation"], chat["second"])]
    frames: list[dict] = []
    async with aiohttp.ClientSession(headers=chat["headers"]) as session, session.ws_connect(urls[0]) as socket:
        await socket.send_json({"type": "send", "content": "a long answer, please"})
        while not frames or frames[-1]["type"] != "delta":
            frames.append(await socket.receive_json(timeout=10))
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.sleep(0.3)
        async with session.ws_connect(urls[1]) as late:  # still accepted: it could resume an answer here
            await late.send_json({"type": "send", "content": "me too"})
            refusal = await late.receive_json(timeout=5)
        process.send_signal(signal.SIGTERM)
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(await socket.receive_json(timeout=10))
    return frames, refusal, signalled


def test_a_v1_stream_past_the_grace_is_cut_off_billed_for_its_text_and_its_hold_freed(
    fake_server, fake_llm, chat, acme, alice
) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05  # ten seconds of answer
    grace = 1.0
    process, base = spawn_daphne(server_env(fake_server, model=SLOW_MODEL, SHUTDOWN_GRACE_SECONDS=str(grace)))
    body = {"model": "fake", "messages": [{"role": "user", "content": "a long answer"}], "stream": True}
    signalled: dict[str, float] = {}
    try:
        with pytest.raises(httpx.RemoteProtocolError):  # cut off mid-stream, as when its client leaves
            _stream_v1_and_terminate(base, process, chat, body, signalled)
        process.wait(timeout=grace + 10)
        exited_after = time.monotonic() - signalled["at"]
    finally:
        process.kill()
        process.wait(timeout=10)
    assert grace <= exited_after < grace + 6  # the grace, then a few seconds to settle and stop
    record = UsageRecord.objects.get(kind="completion_api")
    assert record.status == "cancelled"
    assert 0 < record.completion_tokens < 200
    used, held = used_and_held(acme, alice)
    assert held == 0
    assert used == record.prompt_tokens + record.completion_tokens


def _stream_v1_and_terminate(base: str, process, chat: dict, body: dict, signalled: dict[str, float]) -> None:
    """Read a /v1 stream, SIGTERM the server at its third event and note when in `signalled`."""
    received = 0
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, headers=chat["headers"], timeout=30) as got:
        assert got.status_code == 200
        for line in got.iter_lines():
            received += line.startswith("data: ")
            if received == 3 and "at" not in signalled:
                process.send_signal(signal.SIGTERM)
                signalled["at"] = time.monotonic()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_v1_completion_with_no_text_by_the_grace_gets_503_and_its_hold_is_freed_before_the_exit(
    fake_server, fake_llm, chat, acme, alice, stream
) -> None:
    # The first token comes after the grace: a streamed answer's status has not gone out yet either.
    fake_llm.config.ttft, fake_llm.config.output_tokens = 4.0, 20
    grace = 1.0
    process, base = spawn_daphne(server_env(fake_server, model=SLOW_MODEL, SHUTDOWN_GRACE_SECONDS=str(grace)))
    body = {"model": "fake", "messages": [{"role": "user", "content": "a long answer"}], "stream": stream}
    try:
        with httpx.Client(timeout=30) as client:
            sent = client.build_request("POST", base + "/v1/chat/completions", json=body, headers=chat["headers"])
            signalled = {}

            def terminate_once_held() -> None:
                while used_and_held(acme, alice)[1] == 0:
                    time.sleep(0.02)
                process.send_signal(signal.SIGTERM)
                signalled["at"] = time.monotonic()

            waiter = threading.Thread(target=terminate_once_held, daemon=True)
            waiter.start()
            response = client.send(sent)
            waiter.join(timeout=10)
        process.wait(timeout=grace + 10)
        exited_after = time.monotonic() - signalled["at"]
    finally:
        process.kill()
        process.wait(timeout=10)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "shutting_down"
    assert response.headers["Retry-After"] == "1"
    assert grace <= exited_after < grace + 6
    assert not UsageRecord.objects.filter(kind="completion_api").exists()  # no answer, nothing charged
    assert used_and_held(acme, alice) == (0, 0)
