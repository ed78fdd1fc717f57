"""Backpressure against real daphne processes: the stream cap on every transport, each organisation's
share under another's flood, and slots given back when a client leaves or the model fails."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Callable

import aiohttp
import httpx
import pytest

from conversations.models import Conversation, Message, UsageRecord
from tenancy import services as tenancy_services
from tenancy.metering.quota import get_quota_store
from tests.conversations.conftest import server_env
from tests.conversations.test_guardrails import _day_limit, limit
from tests.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)

LONG_ANSWER = {"output_tokens": 60, "token_delay": 0.05}  # three seconds of streaming
BUDGET = 1_000_000


def chat_key(org, user) -> str:
    _, secret = tenancy_services.api_key_create(org=org, actor=user, name="load", scopes=["chat"], expires_at=None)
    return secret


def messages_path(org, user) -> str:
    conversation = Conversation.objects.create(org=org, user=user)
    return f"/api/v1/orgs/{org.slug}/conversations/{conversation.pk}/messages/"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Streamer(threading.Thread):
    """One streamed turn over server-sent events, read to its end; `started` is set at its first delta."""

    def __init__(
        self, url: str, key: str, *, leave_when: threading.Event | None = None, client: httpx.Client | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.leave_when, self.client = url, key, leave_when, client
        self.started = threading.Event()
        self.status: int | None = None
        self.events: list[str] = []
        self.ttft: float | None = None
        self.refusal: dict = {}

    def run(self) -> None:
        began = time.monotonic()
        body = {"content": "a long answer, please", "stream": True}
        try:
            with (self.client or httpx).stream(
                "POST", self.url, json=body, headers=auth(self.key), timeout=30
            ) as response:
                self.status = response.status_code
                if self.status != 200:
                    self.refusal = json.loads(response.read())["error"]
                    return
                for line in response.iter_lines():
                    if not line.startswith("event: "):
                        continue
                    self.events.append(line.removeprefix("event: "))
                    if self.events[-1] == "delta" and self.ttft is None:
                        self.ttft = time.monotonic() - began
                        self.started.set()
                        if self.leave_when is not None:
                            self.leave_when.wait(10)
                            return  # the connection closes here: the client is gone mid-stream
        finally:
            self.started.set()


def streaming(url: str, key: str, **kwargs: threading.Event) -> Streamer:
    streamer = Streamer(url, key, **kwargs)
    streamer.start()
    assert streamer.started.wait(10)
    assert streamer.status == 200
    return streamer


def timed_post(client: httpx.Client, url: str, key: str, body: dict) -> tuple[httpx.Response, float]:
    """The response and the seconds it took, on a client made beforehand (making one takes tens of ms)."""
    began = time.monotonic()
    response = client.post(url, json=body, headers=auth(key), timeout=30)
    return response, time.monotonic() - began


def eventually(check: Callable[[], bool], *, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within}s"
        time.sleep(0.05)


def held_tokens(org, user) -> int:
    (row,) = get_quota_store().usage(limits=[_day_limit("user_tokens_day", f"org:{org.pk}:user:{user.pk}", BUDGET)])
    return row.reserved


async def refused_then_answered_on_one_socket(
    url: str, key: str, wait_for_free_slot: Callable[[], None]
) -> tuple[list, float]:
    """A turn refused while the process is full, a ping on the same socket, then the turn again once free;
    the frames, and the seconds the refusal took."""
    frames = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=auth(key)) as socket:
        began = time.monotonic()
        await socket.send_json({"type": "send", "content": "now?"})
        frames.append(await socket.receive_json(timeout=5))
        took = time.monotonic() - began
        await socket.send_json({"type": "ping"})
        frames.append(await socket.receive_json(timeout=5))
        await asyncio.to_thread(wait_for_free_slot)
        await socket.send_json({"type": "send", "content": "now?"})
        while frames[-1]["type"] not in ("done", "error") or len(frames) < 3:
            frames.append(await socket.receive_json(timeout=10))
    return frames, took


def test_past_the_cap_every_transport_refuses_at_once_with_retry_after_and_stores_nothing(
    fake_server, fake_llm, acme, alice, bob
) -> None:
    limit(acme, user_tokens_day=BUDGET)  # so a hold left behind would show in the quota store
    alice_key, bob_key = chat_key(acme, alice), chat_key(acme, bob)
    bob_path = messages_path(acme, bob)
    env = server_env(fake_server, MAX_CONCURRENT_STREAMS="2", STREAM_ORG_SHARE="1")
    with daphne(env) as base, httpx.Client() as client:
        fake_llm.config.output_tokens = 3
        assert client.post(base + bob_path, json={"content": "warm up"}, headers=auth(bob_key)).status_code == 201
        fake_llm.config.output_tokens, fake_llm.config.token_delay = LONG_ANSWER.values()
        running = [streaming(base + messages_path(acme, alice), alice_key) for _ in range(2)]

        refused, took = timed_post(client, base + bob_path, bob_key, {"content": "me too"})
        completion = {"model": "fake", "messages": [{"role": "user", "content": "me too"}]}
        v1, v1_took = timed_post(client, base + "/v1/chat/completions", bob_key, completion)
        socket_url = base.replace("http://", "ws://") + bob_path.replace("/api/v1/", "/ws/").removesuffix("messages/")
        stored_meanwhile = Message.objects.filter(conversation__user=bob).count()
        held_meanwhile = held_tokens(acme, bob)

        def wait_for_free_slot() -> None:
            for streamer in running:
                streamer.join(timeout=15)
            fake_llm.config.output_tokens, fake_llm.config.token_delay = 3, 0.0

        frames, socket_took = asyncio.run(refused_then_answered_on_one_socket(socket_url, bob_key, wait_for_free_slot))

    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["error"]["code"] == "overloaded"
    # The gate counts the two running streams: at the operator's cap it refuses before Django does.
    assert refused.json()["error"]["details"] == {
        "reason": "admission_limit",
        "limit_value": 2,
        "retry_after": 2,
    }
    assert took < 0.1, f"refused in {took * 1000:.0f} ms"
    assert v1.status_code == 503
    assert v1.headers["Retry-After"] == "2"
    assert (v1.json()["error"]["code"], v1.json()["error"]["type"]) == ("overloaded", "service_unavailable_error")
    assert v1_took < 0.1, f"/v1 refused in {v1_took * 1000:.0f} ms"
    assert stored_meanwhile == 2  # the warm-up turn only
    assert held_meanwhile == 0
    assert UsageRecord.objects.filter(user=bob).count() == 2  # the warm-up, then the socket's turn once free
    assert Message.objects.filter(conversation__user=bob).count() == 4
    assert frames[0]["type"] == "error"
    assert (frames[0]["code"], frames[0]["retry_after"]) == ("overloaded", 2)
    assert socket_took < 0.1, f"the socket's turn refused in {socket_took * 1000:.0f} ms"
    assert frames[1] == {"type": "pong"}
    assert [frame["type"] for frame in frames[2:]][:1] == ["ack"]
    assert frames[-1]["type"] == "done"
    asked = [request["messages"][-1]["content"] for request in fake_llm.requests]
    assert "me too" not in asked  # neither refused request reached the model
    assert asked.count("now?") == 1  # the socket's turn once a slot was free, not its refused one
    assert all(streamer.events[-1] == "done" for streamer in running)


def test_one_organisation_floods_while_another_still_answers_at_its_normal_pace(
    fake_server, fake_llm, acme, alice, globex, carol
) -> None:
    alice_key, carol_key = chat_key(acme, alice), chat_key(globex, carol)
    alice_path = messages_path(acme, alice)
    flood_paths = [messages_path(globex, carol) for _ in range(8)]
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 20, 0.05  # a second per answer
    env = server_env(fake_server, MAX_CONCURRENT_STREAMS="4", STREAM_ORG_SHARE="0.5")
    with daphne(env) as base, httpx.Client(timeout=30) as client:
        Streamer(base + alice_path, alice_key, client=client).run()  # the process warmed up
        quiet = [ttft_of(client, base + alice_path, alice_key) for _ in range(3)]
        stop, refusals, answered = threading.Event(), [], []
        flood_client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=len(flood_paths)))

        def flood(path: str) -> None:
            while not stop.is_set():  # a client that ignores Retry-After and tries again at once
                streamer = Streamer(base + path, carol_key, client=flood_client)
                streamer.run()
                if streamer.status == 503:
                    refusals.append(streamer.refusal["details"]["reason"])
                    time.sleep(0.1)
                else:
                    answered.append(streamer.events[-1])

        flooders = [threading.Thread(target=flood, args=(path,), daemon=True) for path in flood_paths]
        for flooder in flooders:
            flooder.start()
        eventually(lambda: len(refusals) >= 6, within=10)
        flooded = [ttft_of(client, base + alice_path, alice_key) for _ in range(3)]
        stop.set()
        for flooder in flooders:
            flooder.join(timeout=15)
        flood_client.close()

    # Held to its share: of the gate's limit for its one key (first), of the stream slots for its org.
    assert {"admission_share", "org_share"} & set(refusals)
    assert set(refusals) <= {"org_share", "admission_share", "admission_queue", "admission_limit"}
    assert answered
    assert set(answered) == {"done"}
    normal = statistics.median(quiet)
    assert max(flooded) < max(3 * normal, normal + 0.3), f"quiet {quiet}, under the flood {flooded}"


def ttft_of(client: httpx.Client, url: str, key: str) -> float:
    """Seconds from sending a turn to its first delta; the turn is read to its end."""
    streamer = Streamer(url, key, client=client)
    streamer.run()
    assert streamer.status == 200
    assert streamer.events[-1] == "done"
    return streamer.ttft


def test_a_slot_comes_back_when_the_client_leaves_mid_stream_and_when_the_model_fails(
    fake_server, fake_llm, acme, alice
) -> None:
    key = chat_key(acme, alice)
    env = server_env(fake_server, MAX_CONCURRENT_STREAMS="1", STREAM_ORG_SHARE="1", GATEWAY_RETRIES="0")
    with daphne(env) as base:
        fake_llm.config.output_tokens, fake_llm.config.token_delay = LONG_ANSWER.values()
        leave = threading.Event()
        left = streaming(base + messages_path(acme, alice), key, leave_when=leave)
        while_held = httpx.post(base + messages_path(acme, alice), json={"content": "w"}, headers=auth(key))
        leave.set()
        left.join(timeout=5)
        fake_llm.config.output_tokens, fake_llm.config.token_delay = 3, 0.0
        next_path = messages_path(acme, alice)
        eventually(
            lambda: httpx.post(base + next_path, json={"content": "free?"}, headers=auth(key)).status_code == 201,
            within=3,
        )

        fake_llm.config.output_tokens, fake_llm.config.token_delay = LONG_ANSWER.values()
        v1_held = leave_a_completion_mid_stream(base, key)
        fake_llm.config.output_tokens, fake_llm.config.token_delay = 10, 0.0
        eventually(
            lambda: httpx.post(base + next_path, json={"content": "free?"}, headers=auth(key)).status_code == 201,
            within=3,
        )

        fake_llm.inject("disconnect")  # the model drops the connection after two tokens
        dropped = httpx.post(base + messages_path(acme, alice), json={"content": "x"}, headers=auth(key), timeout=30)
        fake_llm.inject("500")  # no retries, no fallback: the answer fails with an error
        failed = httpx.post(base + messages_path(acme, alice), json={"content": "y"}, headers=auth(key), timeout=30)
        after_failures = httpx.post(base + messages_path(acme, alice), json={"content": "z"}, headers=auth(key))

    assert while_held.status_code == 503
    assert v1_held.status_code == 503
    assert (dropped.status_code, dropped.json()["message"]["status"]) == (201, "interrupted"), dropped.text
    assert failed.status_code == 503, failed.text
    assert failed.json()["error"]["code"] == "model_unavailable"
    assert after_failures.status_code == 201, after_failures.text


def leave_a_completion_mid_stream(base: str, key: str) -> httpx.Response:
    """A streamed /v1 completion whose client leaves after its first chunk; the answer to a turn sent
    while it still streamed."""
    body = {"model": "fake", "messages": [{"role": "user", "content": "long"}], "stream": True}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, headers=auth(key), timeout=30) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        while not next(lines).startswith("data: "):
            pass
        return httpx.post(base + "/v1/chat/completions", json={**body, "stream": False}, headers=auth(key))
