"""The production topology under test: `bin/cluster` with N web processes, started and stopped per N.

Everything it starts runs in a session of its own, so after `bin/cluster stop` the bench can check
that nothing of that session is left holding the bench database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.server import cluster_origin, fake_model_env, free_port, server_environment, session_processes, start_cluster

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 180.0  # four web processes, three workers and beat importing Django on two cores
RABBITMQ_VHOST = "chatpresets-bench-topology"  # the shared broker's default vhost is other people's


def ensure_vhost() -> str:
    """The bench's own RabbitMQ virtual host, so its workers never take another cluster's tasks."""
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", RABBITMQ_VHOST], capture_output=True, check=False)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", RABBITMQ_VHOST, "guest", ".*", ".*", ".*"],
        capture_output=True,
        check=True,
    )
    return f"amqp://guest:guest@127.0.0.1:5672/{RABBITMQ_VHOST}"


def cluster_env(*, processes: int, model: str, folder: Path, broker: str) -> dict[str, str]:
    """bin/cluster's environment: the bench database and Redis, the fake model, guardrails on, DEBUG off."""
    return {
        **server_environment(),
        **fake_model_env(f"{model}/v1", context_window=8192, max_output=64, ttft_timeout=30.0, total_timeout=300.0),
        # Not "test": that would run background tasks inline instead of on the Celery workers.
        "DJANGO_ENV": "development",
        "DEBUG": "false",
        "GUARDRAILS_ENABLED": "true",
        "LOG_LEVEL": "WARNING",
        # DRF's per-user throttle (1,200/min by default) would refuse the step-up before the process does.
        "API_THROTTLE_USER_RATE": "1000000/min",
        "CELERY_BROKER_URL": broker,
        "CLUSTER_DIR": str(folder),
        "CLUSTER_PORT": str(free_port()),
        "WEB_PROCESSES": str(processes),
        "WEB_PORTS": ",".join(str(free_port()) for _ in range(processes)),
        "CLUSTER_SEED": "0",
        "WORKER_CONCURRENCY": "1",
    }


@contextlib.contextmanager
def cluster(*, processes: int, model: str, database_url: str, redis_url: str, broker: str) -> Iterator[str]:
    """nginx's origin in front of `processes` web processes; `bin/cluster stop` when the block ends."""
    with tempfile.TemporaryDirectory(prefix=f"bench-topology-{processes}-") as folder:
        env = cluster_env(processes=processes, model=model, folder=Path(folder) / "cluster", broker=broker)
        env |= {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
        output = Path(folder) / "cluster.out"
        process = start_cluster(env, output)
        try:
            yield cluster_origin(process, output, START_SECONDS)
        finally:
            if process.poll() is None:
                subprocess.run([str(ROOT / "bin" / "cluster"), "stop"], cwd=ROOT, env=env, timeout=120, check=False)
            try:
                process.wait(timeout=30)
            finally:
                for line in session_processes(process.pid):  # never leave a server holding the bench database
                    os.kill(int(line.split()[0]), signal.SIGKILL)
