"""Run the real ASGI server (daphne) in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def daphne(env: dict[str, str], *, timeout: float = 20.0, log: Path | None = None) -> Iterator[str]:
    """Start the service with the given environment overrides; yields its base URL.

    With `log`, the server's stderr (its log) is written to that file for the test to read.
    """
    port = free_port()
    stderr = log.open("wb") if log is not None else subprocess.PIPE
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatpresets.asgi:application"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if log is not None:
            stderr.close()


def wait_until_serving(base: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stderr.read().decode() if process.stderr else "see its log file"
            raise RuntimeError(f"server exited: {output[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server at {base} did not answer /healthz within {timeout}s")


def spawn_daphne(env: dict[str, str], *, timeout: float = 20.0) -> tuple[subprocess.Popen, str]:
    """Start the service and return its process and base URL, for tests that kill it; the caller stops it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatpresets.asgi:application"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout)
    except BaseException:
        process.kill()
        process.wait(timeout=10)
        raise
    return process, base
