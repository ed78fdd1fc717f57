"""Run the real ASGI server (daphne) in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lines a live test adds to the end of the run's output (tests/conftest.py prints them).
RUN_SUMMARY = pytest.StashKey[list[str]]()


# The admission gate opened wide, for tests that send one caller's turns concurrently on purpose
# (pools, budgets, SQLite) and are about something else; the gate has live tests of its own. One
# caller may have half the gate's limit in flight, and the limit starts at MAX_CONCURRENT_STREAMS.
ADMISSION_GATE_OPEN = {
    "TURN_ADMISSION_MAX_PENDING": "1000",
    "TURN_ADMISSION_TARGET_MS": "600000",
    "TURN_ADMISSION_TARGET_FACTOR": "0",
    "TURN_ADMISSION_IDLE_LIMIT": "1000",
    "MAX_CONCURRENT_STREAMS": "1000",
}


def fake_model_env(base_url: str, **model: float) -> dict[str, str]:
    """The environment of a server whose one catalogue model, `fake`, is the fake model at base_url."""
    spec = {
        "name": "fake",
        "base_url": base_url,
        "encoding": "o200k_base",
        "context_window": 4096,
        "max_output": 256,
        "ttft_timeout": 2.0,
        "total_timeout": 20.0,
        **model,
    }
    return {"MODEL_CATALOGUE": json.dumps([spec]), "DEFAULT_MODEL": "fake"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def daphne(env: dict[str, str], *, timeout: float = 20.0, log: Path | None = None) -> Iterator[str]:
    """Start the service with the given environment overrides; yields its base URL.

    With `log`, the server's stderr (its log) is written to that file for the test to read.
    """
    process, base = spawn_daphne(env, timeout=timeout, log=log)
    try:
        yield base
    finally:
        stop(process)


def server_environment() -> dict[str, str]:
    """This process's environment, less what only the browser tests' own thread may set: a server under
    test keeps Django's async-safety checks."""
    return {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def spawn_daphne(
    env: dict[str, str], *, timeout: float = 20.0, log: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the service and return its process and base URL, for tests that kill it; `stop` ends it.

    Its log goes to a file, never a pipe: a pipe nobody reads fills up and stalls the server.
    """
    port = free_port()
    log = log or Path(tempfile.mkstemp(prefix="daphne-", suffix=".log")[1])
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatpresets.asgi:application"],
            cwd=ROOT,
            env={**server_environment(), **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout, log)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    return process, base


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # Requests still in flight can keep daphne from exiting; never leave it holding the test database.
        process.kill()
        process.wait(timeout=10)
        raise


def wait_until_serving(
    base: str, process: subprocess.Popen, timeout: float, log: Path, *, path: str = "/healthz", name: str = "server"
) -> None:
    """Until `path` answers 200 (a 5xx, as a Prometheus still starting gives, is not yet); the log's tail
    if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=1) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{name} at {base} did not answer {path} within {timeout}s")


def start_cluster(env: dict[str, str], output: Path) -> subprocess.Popen:
    """`bin/cluster` in a session of its own (so whatever it leaves can be found), its output to `output`."""
    with output.open("wb") as sink:
        return subprocess.Popen(
            [str(ROOT / "bin" / "cluster")],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def cluster_origin(process: subprocess.Popen, output: Path, timeout: float) -> str:
    """nginx's origin once `bin/cluster` (writing to `output`) says it serves; its log if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_text()
        if "Serving on " in text:
            return text.split("Serving on ", 1)[1].split()[0].rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"bin/cluster exited {process.returncode}: {text[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"bin/cluster did not serve within {timeout:.0f}s: {output.read_text()[-3000:]}")


def session_processes(session: int) -> list[str]:
    """Every live process of a session, as `pid command` (bin/cluster leads its own session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":  # fields[3] is the session id
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{stat.parent.name} {command}")
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found
