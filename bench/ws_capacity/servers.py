"""The web process (daphne with bin/cluster's flags), and what /proc says about a process: RSS, CPU, open files."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.server import free_port, server_environment, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> tuple[int, int]:
    """Lift this process's soft limit on open files to the hard one; children inherit it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@contextlib.contextmanager
def web_process(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """One daphne process run as bin/cluster runs each web process; yields it, its base URL and its log."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="daphne-ws-capacity-", suffix=".log")[1])
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--proxy-headers"]
    command += ["--ping-interval", "20", "--ping-timeout", "30", "--websocket_connect_timeout", "15"]
    command += ["chatpresets.asgi:application"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**server_environment(), **env}, stdout=subprocess.DEVNULL, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, 60.0, log)
        yield process, base, log
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):  # stop() kills it then; the numbers are taken
            stop(process)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sampler:
    """Samples a process's RSS and CPU every `interval` seconds in a thread of its own, so a busy
    event loop in the bench cannot delay the samples."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (time, RSS KiB, CPU s)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_kib(self.pid), cpu_seconds(self.pid)))
            self._stop.wait(self.interval)

    def peak_rss_kib(self) -> int:
        return max(rss for _, rss, _ in self.samples)

    def cpu_percent(self) -> tuple[float, float]:
        """Mean over the whole sampling, and the highest over any one second (100% is one core)."""
        (t0, _, c0), (t1, _, c1) = self.samples[0], self.samples[-1]
        mean = 100 * (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        per_second = [
            100 * (later[2] - earlier[2]) / (later[0] - earlier[0])
            for earlier, later in zip(self.samples, self.samples[4:], strict=False)
            if later[0] > earlier[0]
        ]
        return mean, max(per_second, default=mean)
