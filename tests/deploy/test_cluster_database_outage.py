"""The loopback cluster loses PostgreSQL (the link to it cut): every route answers the service's own 503,
never nginx's 502, through the whole outage, and once a process has found the database gone it
answers at once rather than after the pool's wait; a websocket handshake is closed with 4503 rather
than dropped by daphne; once the database is back, the same processes serve turns again."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from django.db import connection

from conversations.models import Conversation, Message
from tenancy.ws_auth import CLOSE_UNAVAILABLE
from tests.deploy.tcp_link import TcpLink
from tests.deploy.test_cluster import websocket_turn
from tests.deploy.test_cluster_redis_outage import handshake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

RECOVERY_SECONDS = 40  # psycopg's pool reconnects with a growing back-off
UNREACHABLE_SECONDS = 5


@pytest.fixture
def database_link(tcp_link) -> TcpLink:
    return tcp_link(connection.settings_dict["PORT"] or 5432)


@pytest.fixture
def cluster_overrides(database_link: TcpLink, rabbitmq_vhost: str) -> dict[str, str]:
    db = connection.settings_dict
    return {
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}",
        "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{database_link.port}/{db['NAME']}",
        "DATABASE_POOL_TIMEOUT_SECONDS": "2",  # how long a request waits for a connection before its 503
        "DATABASE_UNREACHABLE_SECONDS": str(UNREACHABLE_SECONDS),  # … then it refuses at once for this long
    }


def test_with_the_database_gone_every_route_answers_its_own_503_and_turns_resume_after(
    cluster, database_link, fake_llm, acme, alice
) -> None:
    base, auth = cluster["base"], {"Authorization": f"Bearer {cluster['key']}"}
    conversation = Conversation.objects.create(org=acme, user=alice)
    assert asyncio.run(websocket_turn(cluster, conversation))[-1]["type"] == "done"

    database_link.cut()
    ready = httpx.get(base + "/readyz", timeout=30)
    assert (ready.status_code, ready.json()["failing"]) == (503, ["database"])
    assert httpx.get(base + "/healthz", timeout=10).status_code == 200
    waits = []
    for _ in range(3):  # after a first 503, nginx must not take both processes for dead and answer 502
        started = time.monotonic()
        listed = httpx.get(base + "/api/v1/orgs/acme/conversations/", headers=auth, timeout=30)
        waits.append(time.monotonic() - started)
        assert listed.status_code == 503, listed.text
        assert listed.json()["error"]["details"]["dependency"] == "database"
    # Each process waits out the pool once (readyz did for one of them), then refuses without waiting.
    assert sorted(waits)[1] < 1.0, waits
    completion = {"model": "fake", "messages": [{"role": "user", "content": "hi"}]}
    refused = httpx.post(base + "/v1/chat/completions", headers=auth, json=completion, timeout=30)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "service_unavailable")
    url = f"{base}/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
    refused = httpx.post(url, headers=auth, json={"content": "during"}, timeout=30)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "service_unavailable")
    closed = asyncio.run(handshake(cluster, conversation))
    assert closed.data == CLOSE_UNAVAILABLE
    assert Message.objects.filter(conversation=conversation).count() == 2  # the turn before the outage only
    web_logs = "".join(path.read_text() for path in cluster["dir"].glob("web*.log"))
    assert "Traceback" not in web_logs

    database_link.restore()
    time.sleep(UNREACHABLE_SECONDS)  # each process tries the database again once its refusals lapse
    deadline = time.monotonic() + RECOVERY_SECONDS
    while httpx.get(base + "/api/v1/orgs/acme/conversations/", headers=auth, timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the web processes did not reconnect to the database"
        time.sleep(1)
    assert asyncio.run(websocket_turn(cluster, conversation))[-1]["type"] == "done"
    assert httpx.post(url, headers=auth, json={"content": "after"}, timeout=30).status_code == 201
