"""`bin/cluster` runs the production topology on loopback: nginx in front of two daphne processes,
a Celery worker per queue and beat on RabbitMQ. Through nginx: health, a websocket turn and a
streamed send whose deltas arrive before the end. Then `bin/cluster stop` stops it all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tests.conversations.conftest import server_env
from tests.server import ROOT, free_port, server_environment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]

START_SECONDS = 90  # two web processes, three workers and beat importing Django at once on two CPUs


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A virtual host of this test's own, so nothing it queues outlives it in the shared broker."""
    vhost = f"cluster-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True, capture_output=True)


def processes_in_session(session: int) -> list[str]:
    """Every live process of a session, as `pid command`: the cluster script leads its own."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # fields[3] is the session id
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{stat.parent.name} {command}")
    return found


def wait_until_serving(process: subprocess.Popen, output: Path) -> str:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        text = output.read_text()
        if "Serving on " in text:
            return text.split("Serving on ", 1)[1].split()[0].rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"bin/cluster exited {process.returncode}: {text[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"bin/cluster did not serve within {START_SECONDS}s: {output.read_text()[-3000:]}")


@pytest.fixture
def cluster(fake_server, fake_llm, acme, alice, rabbitmq_vhost, tmp_path) -> Iterator[dict]:
    """The cluster on the test database and Redis, with the fake model; stopped by SIGTERM after."""
    directory = tmp_path / "cluster"
    env = {
        **server_environment(),
        **server_env(fake_server),
        "CLUSTER_DIR": str(directory),
        "CLUSTER_PORT": str(free_port()),
        "WEB_PORTS": f"{free_port()},{free_port()}",
        "CLUSTER_SEED": "0",
        "WORKER_CONCURRENCY": "1",
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}",
    }
    output = tmp_path / "cluster.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "cluster")],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stopped: list[str] = []

    def stop() -> list[str]:
        """Stop the cluster with `bin/cluster stop`; the processes of its session still alive after."""
        if not stopped:
            if process.poll() is None:  # as `make cluster-stop` does from another shell
                subprocess.run([str(ROOT / "bin" / "cluster"), "stop"], cwd=ROOT, env=env, timeout=60, check=False)
            try:
                process.wait(timeout=15)
            finally:
                stopped.extend(processes_in_session(process.pid))
                for line in stopped:  # never leave a server holding the test database
                    os.kill(int(line.split()[0]), signal.SIGKILL)
        return stopped

    try:
        base = wait_until_serving(process, output)
        _, key = tenancy_services.api_key_create(
            org=acme, actor=alice, name="cluster", scopes=["chat"], expires_at=None
        )
        yield {"base": base, "key": key, "dir": directory, "process": process, "output": output, "stop": stop}
    finally:
        stop()


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
