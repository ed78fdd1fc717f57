"""Benchmark: two checkouts of the service side by side, the CPU each web process spends per `/v1` request.

Run from the project root (about four minutes), with nothing else measuring:

    git worktree add /tmp/before <commit> && ln -s "$PWD/.venv" /tmp/before/.venv
    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \\
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/checkouts_ab.py /tmp/before . \\
        [--rate 20] [--per-block 300] [--blocks 6]

One daphne process serves each checkout, with the organisation and preset of `bench/ttft_breakdown.py`
(every limit on, PII mode `redact_for_model`) and one fake model (20 ms to the first token, then 20
chunks 10 ms apart). An aiohttp client sends streamed `/v1/chat/completions` at `--rate` a second, open
loop, in blocks of `--per-block` requests, to one checkout and then the other (the order alternating
block by block, so a slow spell of the machine falls on both), and reads each to its end. Per block: the
process's CPU (`/proc/<pid>/stat`, user and system) over its requests; over all blocks: time to first
token (the model's 20 ms included) and the answers that were not 200.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench import ttft_breakdown as breakdown  # noqa: E402  (sets up Django and the catalogue)
from bench.fake_model import start_fake_model  # noqa: E402
from tests.server import free_port  # noqa: E402

WARMUP = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--per-block", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=6)
    args = parser.parse_args()
    breakdown.ensure_database()
    tenant = breakdown.seed()
    fake = start_fake_model(breakdown.MODEL_PORT, ttft=0.02, tokens=20, token_delay=0.01)
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    servers = {name: serve(checkout) for name, checkout in checkouts.items()}
    try:
        results = asyncio.run(drive(servers, tenant, args))
    finally:
        for server, _ in servers.values():
            server.send_signal(2)
            server.wait(30)
        fake.terminate()
    for name, result in results.items():
        report(f"{name} ({checkouts[name]})", result)
    return 0


def serve(checkout: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = os.environ | breakdown.server_env(API_THROTTLE_USER_RATE="1000000/min")
    command = [str(checkout / ".venv/bin/python"), "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    with open(os.devnull, "wb") as quiet:
        server = subprocess.Popen([*command, "chatpresets.asgi:application"], cwd=checkout, env=env, stdout=quiet)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{checkout}: daphne did not listen on {port}")


async def drive(
    servers: dict[str, tuple[subprocess.Popen, str]], tenant: breakdown.Tenant, args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "ttft": [], "failed": []} for name in servers}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _, base in servers.values():
            await block(session, base, tenant, WARMUP, args.rate)
        for number in range(args.blocks):
            for name in list(servers) if number % 2 == 0 else list(servers)[::-1]:
                server, base = servers[name]
                before = cpu_seconds(server.pid)
                ttfts = await block(session, base, tenant, args.per_block, args.rate)
                results[name]["cpu"].append((cpu_seconds(server.pid) - before) * 1000 / args.per_block)
                results[name]["ttft"] += [ttft for ttft in ttfts if ttft is not None]
                results[name]["failed"].append(sum(1 for ttft in ttfts if ttft is None))
    return results


async def block(
    session: aiohttp.ClientSession, base: str, tenant: breakdown.Tenant, count: int, rate: float
) -> list[float | None]:
    """`count` requests at `rate` a second, open loop: each one's time to first token (ms), or None."""
    started, tasks = time.perf_counter(), []
    for number in range(count):
        if (wait := started + number / rate - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(request(session, base, tenant)))
    return await asyncio.gather(*tasks)


async def request(session: aiohttp.ClientSession, base: str, tenant: breakdown.Tenant) -> float | None:
    body = {"model": f"preset:{breakdown.SLUG}", "messages": [{"role": "user", "content": breakdown.MESSAGE}]}
    headers = {"Authorization": f"Bearer {tenant.secret}"}
    began = time.perf_counter()
    async with session.post(f"{base}/v1/chat/completions", json={**body, "stream": True}, headers=headers) as response:
        if response.status != 200:
            await response.read()
            return None
        await breakdown.first_content(response, breakdown._delta_text)
        ttft = (time.perf_counter() - began) * 1000
        await response.read()
        return ttft


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(label: str, result: dict[str, list[float]]) -> None:
    ttfts = sorted(result["ttft"])
    print(
        f"{label}: CPU per request by block {', '.join(f'{cpu:.1f}' for cpu in result['cpu'])} ms, "
        f"mean {statistics.mean(result['cpu']):.2f} ms; time to first token p50 {ttfts[len(ttfts) // 2]:.1f} ms, "
        f"p99 {ttfts[int(len(ttfts) * 0.99)]:.1f} ms; not 200: {int(sum(result['failed']))}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
