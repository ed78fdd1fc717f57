"""Start the project's fake model server (`manage.py fake_llm`) for a benchmark, and wait until it answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def start_fake_model(port: int, *, ttft: float = 0.02, tokens: int = 5, token_delay: float = 0.0) -> subprocess.Popen:
    command = [
        sys.executable,
        "manage.py",
        "fake_llm",
        "--port",
        str(port),
        "--ttft",
        str(ttft),
        "--tokens",
        str(tokens),
        "--token-delay",
        str(token_delay),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("fake model did not start")
