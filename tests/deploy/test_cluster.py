"""`bin/cluster` runs the production topology on loopback: nginx in front of two daphne processes,
a Celery worker per queue and beat on RabbitMQ. Through nginx: health, a websocket turn and a
streamed send whose deltas arrive before the end. Then `bin/cluster stop` stops it all."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import httpx
import pytest

from conversations.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]


def served_by(cluster: dict) -> set[str]:
    """The upstream addresses nginx sent requests to, from its access log."""
    lines = (cluster["dir"] / "nginx" / "access.log").read_text().splitlines()
    return {line.rsplit(" ", 2)[-2] for line in lines}


async def websocket_turn(cluster: dict, conversation: Conversation) -> list[dict]:
    url = cluster["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{conversation.pk}/"
    headers = {"Authorization": f"Bearer {cluster['key']}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as socket:
        await socket.send_json({"type": "send", "content": "through nginx"})
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(await socket.receive_json(timeout=15))
    return frames


def streamed_send(cluster: dict, conversation: Conversation) -> list[tuple[float, dict]]:
    url = f"{cluster['base']}/api/v1/orgs/acme/conversations/{conversation.pk}/messages/"
    headers = {"Authorization": f"Bearer {cluster['key']}"}
    events, started = [], time.monotonic()
    with httpx.stream("POST", url, json={"content": "sse", "stream": True}, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append((time.monotonic() - started, json.loads(line[6:])))
    return events


def test_the_cluster_serves_health_websocket_and_streams_through_nginx_and_stops_cleanly(
    cluster, fake_llm, acme, alice
) -> None:
    for path in ("/healthz", "/readyz", "/healthz", "/readyz"):
        response = httpx.get(cluster["base"] + path, timeout=10)
        assert response.status_code == 200, (path, response.text)
    assert len(served_by(cluster)) == 2  # both web processes answered behind the one address

    fake_llm.config.output_tokens = 10
    fake_llm.config.token_delay = 0.05
    conversation = Conversation.objects.create(org=acme, user=alice)
    frames = asyncio.run(websocket_turn(cluster, conversation))
    assert [f["type"] for f in frames] == ["ack"] + ["delta"] * 10 + ["done"]

    events = streamed_send(cluster, conversation)
    kinds = [event["type"] for _, event in events]
    assert (kinds[0], kinds.count("delta"), kinds[-1]) == ("ack", 10, "done")
    first_delta = next(at for at, event in events if event["type"] == "delta")
    assert events[-1][0] - first_delta >= 0.3  # nginx passed the first delta on while nine more were coming
    answers = Message.objects.filter(conversation=conversation, role="assistant").order_by("seq")
    assert [a.status for a in answers] == ["complete", "complete"]

    assert cluster["stop"]() == []  # nginx, both web processes, the workers' pools and beat: all gone
    assert cluster["process"].returncode == 0, cluster["output"].read_text()[-3000:]
    assert not list(cluster["dir"].glob("*.pid")), "pid files left behind"
    logs = {path.name: path.read_text() for path in cluster["dir"].glob("*.log")}
    assert [name for name, text in logs.items() if "Traceback" in text] == []
