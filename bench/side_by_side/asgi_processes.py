"""The two ASGI servers of bench/asgi_servers.py, each one process serving chatpresets.asgi, and what
each process has spent: CPU time and resident memory, read from /proc.

daphne runs with bin/cluster's options. uvicorn runs with the nearest equivalent of each:

| daphne (bin/cluster, chatpresets/daphne_tuning.py)  | uvicorn                                          |
|-----------------------------------------------------|--------------------------------------------------|
| `--proxy-headers`                                   | `--proxy-headers --forwarded-allow-ips 127.0.0.1`|
| `--ping-interval 20 --ping-timeout 30`              | `--ws-ping-interval 20 --ws-ping-timeout 30`     |
| TCP_NODELAY patched into Twisted                    | none needed: asyncio and uvloop set it themselves|
| websocket message limit patched into Autobahn       | `--ws-max-size REQUEST_BODY_MAX_BYTES`           |
| no access log unless `--access-log`                 | `--no-access-log`                                |
| no lifespan protocol                                | `--lifespan off` (Channels' router has none)     |
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.side_by_side.processes import ROOT, wait_until_ready
from tests.server import free_port, server_environment

PING_INTERVAL, PING_TIMEOUT = "20", "30"  # bin/cluster's WEBSOCKET_PING_INTERVAL and _TIMEOUT defaults
START_SECONDS = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    name: str
    origin: str
    pid: int


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # user + system, every thread of the process
    rss_kb: int
    peak_rss_kb: int


def daphne_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--proxy-headers"),
        *("--ping-interval", PING_INTERVAL, "--ping-timeout", PING_TIMEOUT),
        "chatpresets.asgi:application",
    ]


def uvicorn_command(port: int, *, ws_max_bytes: int) -> list[str]:
    """uvicorn[standard]: uvloop, httptools and websockets, named so a missing one fails instead of falling back."""
    return [
        *(sys.executable, "-m", "uvicorn", "chatpresets.asgi:application", "--host", "127.0.0.1", "--port", str(port)),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--ws-max-size", str(ws_max_bytes)),
        *("--ws-ping-interval", PING_INTERVAL, "--ws-ping-timeout", PING_TIMEOUT),
        *("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"),
        *("--lifespan", "off", "--no-access-log", "--log-level", "warning"),
    ]


@contextlib.contextmanager
def serve(name: str, command: list[str], port: int, env: dict[str, str]) -> Iterator[Server]:
    """Run one server until the block ends; its log is shown if it fails to start or the block fails."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**server_environment(), **env}, stdout=log, stderr=subprocess.STDOUT
        )
        origin = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(name, process, f"{origin}/healthz", START_SECONDS)
            yield Server(name, origin, process.pid)
        except BaseException:
            log.seek(0)
            print(f"--- last output of {name} ---\n{log.read().decode(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)  # both drain before they exit
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def both_servers(env: dict[str, str], *, ws_max_bytes: int) -> Iterator[dict[str, Server]]:
    with contextlib.ExitStack() as stack:
        daphne_port, uvicorn_port = free_port(), free_port()
        yield {
            "daphne": stack.enter_context(serve("daphne", daphne_command(daphne_port), daphne_port, env)),
            "uvicorn": stack.enter_context(
                serve("uvicorn", uvicorn_command(uvicorn_port, ws_max_bytes=ws_max_bytes), uvicorn_port, env)
            ),
        }


def usage(pid: int) -> Usage:
    """The process's CPU time so far, its resident memory now and its peak (Linux /proc)."""
    # Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return Usage(cpu, int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0]))
