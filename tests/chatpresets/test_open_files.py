"""A web process lifts its soft open-files limit to fit WEBSOCKET_MAX_OPEN, within its hard limit."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import logging, resource; logging.basicConfig(); "
    "from chatpresets.open_files import make_room; "
    "print(make_room({sockets}), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
)


def run_under(soft: int, hard: int, sockets: int) -> tuple[list[int], str]:
    """make_room(sockets) in a process started with these limits: (returned, soft limit after), stderr."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(sockets=sockets)],
        cwd=ROOT,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [int(n) for n in done.stdout.split()], done.stderr


def test_a_low_soft_limit_is_lifted_to_the_sockets_and_the_reserve() -> None:
    assert run_under(256, 8000, 5000) == ([6024, 6024], "")


def test_a_hard_limit_too_low_lifts_what_it_can_and_says_so() -> None:
    (returned, soft), stderr = run_under(256, 4096, 5000)
    assert (returned, soft) == (4096, 4096)
    assert "WEBSOCKET_MAX_OPEN=5000" in stderr
    assert "about 3072 websockets" in stderr


def test_a_limit_with_room_is_left_alone() -> None:
    assert run_under(7000, 8000, 5000) == ([7000, 7000], "")
