"""The loopback cluster (`bin/cluster`) as a fixture: its own RabbitMQ virtual host, the test database
and Redis, the fake model; stopped with `bin/cluster stop` after the test."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from tenancy import services as tenancy_services
from tests.conversations.conftest import server_env
from tests.deploy.tcp_link import TcpLink
from tests.server import ROOT, cluster_origin, free_port, server_environment, session_processes, start_cluster

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


@pytest.fixture
def tcp_link() -> Iterator[Callable[[int], TcpLink]]:
    """Opens links to local services' ports (TcpLink), each closed after the test."""
    links: list[TcpLink] = []

    def open_link(port: int) -> TcpLink:
        links.append(TcpLink(port))
        return links[-1]

    yield open_link
    for link in links:
        link.close()


@pytest.fixture
def cluster_overrides(rabbitmq_vhost: str) -> dict[str, str]:
    """What the cluster's environment sets beyond the test's own; a test module may override this fixture."""
    return {"CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{rabbitmq_vhost}"}


@pytest.fixture
def cluster(fake_server, fake_llm, acme, alice, cluster_overrides, tmp_path) -> Iterator[dict]:
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
        **cluster_overrides,
    }
    output = tmp_path / "cluster.out"
    process = start_cluster(env, output)
    stopped: list[str] = []

    def stop() -> list[str]:
        """Stop the cluster with `bin/cluster stop`; the processes of its session still alive after."""
        if not stopped:
            if process.poll() is None:  # as `make cluster-stop` does from another shell
                subprocess.run([str(ROOT / "bin" / "cluster"), "stop"], cwd=ROOT, env=env, timeout=60, check=False)
            try:
                process.wait(timeout=15)
            finally:
                stopped.extend(session_processes(process.pid))
                for line in stopped:  # never leave a server holding the test database
                    os.kill(int(line.split()[0]), signal.SIGKILL)
        return stopped

    try:
        base = cluster_origin(process, output, START_SECONDS)
        _, key = tenancy_services.api_key_create(
            org=acme, actor=alice, name="cluster", scopes=["chat"], expires_at=None
        )
        yield {"base": base, "key": key, "dir": directory, "process": process, "output": output, "stop": stop}
    finally:
        stop()
