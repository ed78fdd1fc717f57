"""Benchmark: where the time to first token of a streamed `/v1` completion goes, segment by segment.

Run from the project root (about a minute), with nothing else measuring:

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \\
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/v1_segments.py [--requests 230]

One daphne process serves `bench/v1_segments_app.py` (the service's application, marked at each
segment) with the organisation and preset of `bench/ttft_breakdown.py` (every limit on, PII mode
`redact_for_model`); the fake model answers at once with 16 chunks 2 ms apart, as in the side-by-side
bench. An aiohttp client sends the requests one at a time, 20 ms apart, and reads each to its end.
The marks share one clock with the client, so every segment from the client's send to its first
content token is reported, p50 and mean over the requests after the first 30.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench import ttft_breakdown as breakdown  # noqa: E402  (sets up Django and the catalogue)
from bench.fake_model import start_fake_model  # noqa: E402
from tests.server import free_port  # noqa: E402

WARMUP = 30
ORDER = [
    ("client_sent", "route", "client to the route (daphne's parsing, the gate, the body limit)"),
    ("route", "hop_in", "the route to the worker thread (body, request, header hooks)"),
    ("hop_in", "hop_out", "key, body, preset, PII, tokens, limits (`_caller_and_call`)"),
    ("hop_out", "headers_sent", "back on the loop, the response built, its headers sent"),
    ("headers_sent", "sdk_in", "the first chunk, the model task started"),
    ("sdk_in", "transport_in", "the openai client building the request"),
    ("transport_in", "response_headers", "the model's answer begins (request written, model, headers read)"),
    ("response_headers", "stream_open", "the openai client's stream object"),
    ("stream_open", "first_token", "the first chunk read and parsed"),
    ("first_token", "content_sent", "the first chunk relayed to daphne"),
    ("content_sent", "client_first", "daphne to the client's first content token"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=230)
    args = parser.parse_args()
    breakdown.ensure_database()
    tenant = breakdown.seed()
    fake = start_fake_model(breakdown.MODEL_PORT, ttft=0, tokens=16, token_delay=0.002)
    log = Path(tempfile.mkstemp(prefix="v1-segments-", suffix=".log")[1])
    try:
        sent = serve_and_drive(tenant, log, args.requests)
    finally:
        fake.terminate()
    report(sent, read_marks(log))
    return 0


def serve_and_drive(tenant: breakdown.Tenant, log: Path, requests: int) -> list[tuple[float, float]]:
    port = free_port()
    env = os.environ | breakdown.server_env(V1_SEGMENTS_LOG=str(log))
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.v1_segments_app:application"]
    with open(os.devnull, "wb") as quiet:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=quiet)
    try:
        wait_for(port)
        return asyncio.run(drive(f"http://127.0.0.1:{port}", tenant, requests))
    finally:
        server.send_signal(2)  # daphne exits cleanly, and the marks are written
        server.wait(30)


def wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not listen on {port}")


async def drive(base: str, tenant: breakdown.Tenant, requests: int) -> list[tuple[float, float]]:
    body = {"model": f"preset:{breakdown.SLUG}", "messages": [{"role": "user", "content": breakdown.MESSAGE}]}
    headers = {"Authorization": f"Bearer {tenant.secret}"}
    sent = []
    async with aiohttp.ClientSession() as session:
        for _ in range(requests):
            began = time.perf_counter()
            url = f"{base}/v1/chat/completions"
            async with session.post(url, json={**body, "stream": True}, headers=headers) as response:
                await breakdown.first_content(response, breakdown._delta_text)
                sent.append((began, time.perf_counter()))
                await response.read()
            await asyncio.sleep(0.02)
    return sent


def read_marks(log: Path) -> list[dict[str, float]]:
    """The server's marks, one dict per request (a new one at each `route` mark)."""
    requests: list[dict[str, float]] = []
    for line in log.read_text().splitlines():
        name, moment = line.split()
        if name == "route":
            requests.append({})
        if requests and name not in requests[-1]:
            requests[-1][name] = float(moment)
    return requests


def report(sent: list[tuple[float, float]], marks: list[dict[str, float]]) -> None:
    if len(sent) != len(marks):
        raise RuntimeError(f"{len(sent)} requests sent, {len(marks)} seen by the server")
    segments: dict[str, list[float]] = {label: [] for _, _, label in ORDER}
    totals = []
    for (began, first), request in list(zip(sent, marks, strict=True))[WARMUP:]:
        moments = request | {"client_sent": began, "client_first": first}
        for start, end, label in ORDER:
            segments[label].append((moments[end] - moments[start]) * 1000)
        totals.append((first - began) * 1000)
    print(f"\n== /v1 streamed completion, {len(totals)} requests one at a time: ms from the client's send ==")
    for label, values in segments.items():
        print(f"{statistics.median(values):6.2f}  {statistics.mean(values):6.2f}  {label}")
    print(f"{statistics.median(totals):6.2f}  {statistics.mean(totals):6.2f}  time to first content token (p50, mean)")


if __name__ == "__main__":
    sys.exit(main())
