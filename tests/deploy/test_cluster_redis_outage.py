"""The loopback cluster loses Redis (the link to it cut, as when Redis stops): cache, channel layer,
limits and quotas all gone at once. Every route answers with its own refusal, never a 500: readiness
fails, liveness holds, reads go on, turns are refused with 503 before anything is stored, and an
open websocket and a new handshake are closed with 4503 (try again later). Once Redis is back, turns run again."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time

import aiohttp
import httpx
import pytest

from conversations.consumers import CLOSE_UNAVAILABLE
from conversations.models import Conversation, Message
from tests.deploy.tcp_link import TcpLink
from tests.deploy.test_cluster import websocket_turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

RECOVERY_SECONDS = 30


@pytest.fixture
def redis_link(tcp_link) -> TcpLink:
    return tcp_link(6379)


@pytest.fixture
def cluster_overrides(redis_link: TcpLink, rabbitmq_vhost: str) -> dict[str, str]:
    database = os.environ["REDIS_URL"].rsplit("/", 1)[1]  # the test's own Redis database, through the link
    return {
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_link.port}/{database}",
    }


async def handshake(
    cluster: dict, conversation: Conversation, opened: threading.Event | None = None
) -> aiohttp.WSMessage:
    """The first message a socket receives after its handshake (`opened` is set once it is open)."""
    url = cluster["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{conversation.pk}/"
    headers = {"Authorization": f"Bearer {cluster['key']}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as socket:
        if opened is not None:
            opened.set()
        return await socket.receive(timeout=15)


def test_with_redis_gone_every_route_refuses_cleanly_and_turns_resume_after(
    cluster, redis_link, fake_llm, acme, alice
) -> None:
    base, auth = cluster["base"], {"Authorization": f"Bearer {cluster['key']}"}
    assert asyncio.run(websocket_turn(cluster, Conversation.objects.create(org=acme, user=alice)))[-1]["type"] == "done"

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a socket open from before the cut
        opened = threading.Event()
        open_socket = pool.submit(
            asyncio.run, handshake(cluster, Conversation.objects.create(org=acme, user=alice), opened)
        )
        assert opened.wait(15)
        redis_link.cut()
        closed = open_socket.result(timeout=20)  # its read of the channel layer fails: closed, not left hanging
    assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAVAILABLE)
    for _ in range(2):  # nginx alternates: both web processes find Redis gone
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert set(ready.json()["failing"]) == {"cache", "channel_layer"}
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200  # alive: no restart would help
        assert httpx.get(base + "/api/v1/orgs/acme/conversations/", headers=auth, timeout=10).status_code == 200

        completion = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
        for stream in (False, True):
            refused = httpx.post(base + "/v1/chat/completions", headers=auth, json={**completion, "stream": stream})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "quota_store_unavailable"

        conversation = Conversation.objects.create(org=acme, user=alice)
        url = f"{base}/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
        refused = httpx.post(url, headers=auth, json={"content": "during"}, timeout=10)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "quota_store_unavailable"
        assert not Message.objects.filter(conversation=conversation).exists()

        closed = asyncio.run(handshake(cluster, conversation))
        assert (closed.type, closed.data) == (aiohttp.WSMsgType.CLOSE, CLOSE_UNAVAILABLE)
    web_logs = "".join(path.read_text() for path in cluster["dir"].glob("web*.log"))
    assert "Traceback" not in web_logs

    redis_link.restore()
    deadline = time.monotonic() + RECOVERY_SECONDS
    after = Conversation.objects.create(org=acme, user=alice)
    while True:  # the limits' breaker tries Redis again after a few seconds
        answered = httpx.post(
            f"{base}/api/v1/orgs/acme/conversations/{after.pk}/messages/", headers=auth, json={"content": "after"}
        )
        if answered.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answered.status_code == 201, answered.text
    assert asyncio.run(websocket_turn(cluster, after))[-1]["type"] == "done"
