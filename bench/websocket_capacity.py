"""Benchmark: 1,000 concurrent streaming websockets in one web process, and the memory of an idle one.

Run from the project root (it creates and migrates its own database):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench_ws \
        REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/websocket_capacity.py

It lifts its open-file limit to the hard limit (daphne inherits it), starts the fake model
(`manage.py fake_llm`: first token at once, `--tokens` tokens `--token-delay` apart; by default 120
tokens 0.5 s apart, a 60 s answer, which outlasts the admission of 1,000 turns) and ONE daphne
process with bin/cluster's flags, MAX_CONCURRENT_STREAMS, WEBSOCKET_MAX_OPEN, WEBSOCKET_MAX_PER_CALLER
and WEBSOCKET_HANDSHAKE_BURST above the socket count and STREAM_ORG_SHARE=1 (one organisation holds
every stream), with Redis as the channel layer. The organisation is on the enterprise plan with every
guardrail limit set where no run reaches it, so each turn is checked and none refused. Then, all from
this process's event loop (aiohttp's client):

1. `--reference` turns one at a time (each on a socket of its own): the concurrency-1 time to first
   delta on the same process, which also warms it up;
2. the daphne process's RSS (VmRSS) with no socket, with `--sockets`/2 idle authenticated sockets and
   with `--sockets`: memory per idle connection at two points;
3. a `send` on every socket at once; every frame is checked (one `ack` first, delta seqs contiguous
   from 1, their text equal to the fake model's answer and to the stored answer in `done`, which must
   be `complete`) while a thread samples the process's RSS and CPU every 250 ms.

It writes bench/results/websocket_capacity.json and the section of docs/performance.md between
<!-- websocket-capacity:start --> and <!-- websocket-capacity:end -->. The client shares the machine
(and its cores) with the server, the fake model, PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ["DEBUG"] = "false"

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from bench.side_by_side.seed import generous  # noqa: E402
from bench.ws_capacity import report  # noqa: E402
from bench.ws_capacity.servers import Sampler, open_files, raise_open_files_limit, rss_kib, web_process  # noqa: E402
from bench.ws_capacity.sockets import (  # noqa: E402
    close_sockets,
    open_sockets,
    peak_streaming,
    verify,
)
from conversations.models import Conversation  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Membership, Organization, Plan, Role, User  # noqa: E402
from tests.server import fake_model_env, free_port  # noqa: E402

ORG = "ws-capacity-bench"
SETTLE_SECONDS = 5.0  # after the last handshake, before RSS is read
SETTINGS_SHOWN = (
    "MAX_CONCURRENT_STREAMS",
    "STREAM_ORG_SHARE",
    "TURN_ADMISSION_MAX_PENDING",
    "TURN_ADMISSION_IDLE_LIMIT",
    "TURN_ADMISSION_TARGET_MS",
    "TURN_ADMISSION_TARGET_FACTOR",
    "WEBSOCKET_MAX_OPEN",
    "WEBSOCKET_MAX_PER_CALLER",
    "WEBSOCKET_HANDSHAKE_BURST",
)


def seed(conversations: int) -> tuple[str, list[str]]:
    """The organisation's key and `conversations` fresh conversations; earlier runs' are removed."""
    limits = {name: generous(name) for name in settings.PLAN_LIMITS[Plan.ENTERPRISE]}
    org, _ = Organization.objects.update_or_create(
        slug=ORG, defaults={"name": ORG, "plan": Plan.ENTERPRISE, "settings": {"limits": limits}}
    )
    user, _ = User.objects.get_or_create(username=ORG)
    Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    Conversation.objects.filter(org=org).delete()
    _, secret = tenancy_services.api_key_create(org=org, actor=user, name=ORG, scopes=["chat"], expires_at=None)
    rows = Conversation.objects.bulk_create(
        Conversation(org=org, user=user, title="bench") for _ in range(conversations)
    )
    return secret, [str(row.pk) for row in rows]


def percentile(values: list[float], fraction: float) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


async def idle_rss(pid: int) -> int:
    await asyncio.sleep(SETTLE_SECONDS)
    return rss_kib(pid)


async def reference(
    session: aiohttp.ClientSession, base: str, secret: str, conversations: list[str], answer: str
) -> list[float]:
    """Time to first delta of turns one at a time, each on a socket of its own (then stopped)."""
    ttfts = []
    for conversation in conversations:
        sockets, _, failures = await open_sockets(session, base, ORG, secret, [conversation])
        if failures:
            raise SystemExit(f"reference socket refused: {failures}")
        await sockets[0].send_turn("reference question")
        await sockets[0].streaming.wait()
        ttft = verify(sockets[0], answer).ttft_ms
        if ttft is not None:
            ttfts.append(ttft)
        await sockets[0].stop()  # the time to first delta is taken; the rest of the answer is not needed
        await sockets[0].finished.wait()
        await close_sockets(sockets)
    return ttfts


async def measure(args: argparse.Namespace, pid: int, base: str, secret: str, conversations: list[str]) -> dict:
    results: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        ttfts = await reference(session, base, secret, conversations[: args.reference], expected(args))
        results["reference"] = {"turns": len(ttfts), "ttft_p50_ms": percentile(ttfts, 0.5)}
        results["reference"]["ttft_p99_ms"] = percentile(ttfts, 0.99)
        targets = conversations[args.reference :]
        half = args.sockets // 2
        idle = {"rss_kib": {0: await idle_rss(pid)}, "open_files": {0: open_files(pid)}}
        started = time.perf_counter()
        first, handshakes, failures = await open_sockets(session, base, ORG, secret, targets[:half])
        idle["rss_kib"][len(first)], idle["open_files"][len(first)] = await idle_rss(pid), open_files(pid)
        rest, more, failed = await open_sockets(session, base, ORG, secret, targets[half : args.sockets])
        opening_seconds = time.perf_counter() - started - SETTLE_SECONDS
        sockets = first + rest
        idle["rss_kib"][len(sockets)], idle["open_files"][len(sockets)] = await idle_rss(pid), open_files(pid)
        handshakes += more
        for kind, count in failed.items():
            failures[kind] = failures.get(kind, 0) + count
        idle |= {
            "opened": len(sockets),
            "failures": failures,
            "opening_seconds": opening_seconds,
            "handshake_p50_ms": percentile(handshakes, 0.5),
            "handshake_p99_ms": percentile(handshakes, 0.99),
        }
        results["idle"] = idle
        results["streaming"] = await stream_all(args, pid, sockets)
        await close_sockets(sockets)
    return results


async def stream_all(args: argparse.Namespace, pid: int, sockets: list) -> dict[str, Any]:
    """A turn on every socket at once; every frame of every socket checked."""
    answer_seconds = args.tokens * args.token_delay
    with Sampler(pid) as sampler:
        started = time.perf_counter()
        await asyncio.gather(*(socket.send_turn(f"question {n}") for n, socket in enumerate(sockets)))
        sent_seconds = time.perf_counter() - started
        waiting = [asyncio.create_task(socket.finished.wait()) for socket in sockets]
        _, pending = await asyncio.wait(waiting, timeout=answer_seconds + args.patience)
        for task in pending:
            task.cancel()
        elapsed = time.perf_counter() - started
    verdicts = [verify(socket, expected(args)) for socket in sockets]
    ttfts = [v.ttft_ms for v in verdicts if v.ttft_ms is not None]
    errors: dict[str, int] = {}
    for verdict in verdicts:
        if verdict.error is not None:
            errors[verdict.error] = errors.get(verdict.error, 0) + 1
    first_deltas = [v.first_delta_at for v in verdicts if v.first_delta_at]
    dones = [v.done_at for v in verdicts if v.done_at]
    cpu_mean, cpu_peak = sampler.cpu_percent()
    return {
        "sockets": len(sockets),
        "complete": sum(v.done and v.acked and v.text_matches and not v.missing for v in verdicts),
        "acked": sum(v.acked for v in verdicts),
        "done": sum(v.done for v in verdicts),
        "unfinished_after_patience": len(pending),
        "deltas": sum(v.deltas for v in verdicts),
        "deltas_expected": len(sockets) * args.tokens,
        "missing": sum(v.missing for v in verdicts),
        "out_of_order": sum(v.out_of_order for v in verdicts),
        "duplicates": sum(v.duplicates for v in verdicts),
        "text_mismatches": sum(not v.text_matches for v in verdicts),
        "errors": errors,
        "send_all_seconds": sent_seconds,
        "elapsed_seconds": elapsed,
        "ttft_p50_ms": percentile(ttfts, 0.5),
        "ttft_p99_ms": percentile(ttfts, 0.99),
        "ttft_max_ms": max(ttfts, default=None),
        "peak_streaming_at_once": peak_streaming(verdicts),
        "all_streaming_at_once": bool(first_deltas and dones) and max(first_deltas) < min(dones),
        "closed_by_server": sum(1 for socket in sockets if socket.ws is not None and socket.ws.closed),
        "peak_rss_kib": sampler.peak_rss_kib(),
        "cpu_mean_percent": cpu_mean,
        "cpu_peak_percent": cpu_peak,
    }


def expected(args: argparse.Namespace) -> str:
    """The fake model's answer, the same every time."""
    return "".join(f"w{i} " for i in range(args.tokens))


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=120, help="tokens in each answer")
    parser.add_argument("--token-delay", type=float, default=0.5, help="seconds between tokens")
    parser.add_argument("--reference", type=int, default=20, help="turns one at a time before the rest")
    parser.add_argument("--patience", type=float, default=300.0, help="seconds past the answer's length to wait")
    parser.add_argument("--no-doc", action="store_true", help="write the JSON only, not docs/performance.md")
    return parser.parse_args()


def main() -> int:
    args = options()
    nofile = raise_open_files_limit()
    ensure_database()
    secret, conversations = seed(args.reference + args.sockets)
    load_before = os.getloadavg()
    model_port = free_port()
    fake = start_fake_model(model_port, ttft=0.0, tokens=args.tokens, token_delay=args.token_delay)
    env = {
        **fake_model_env(
            f"http://127.0.0.1:{model_port}/v1",
            context_window=8192,
            max_output=max(64, args.tokens),
            ttft_timeout=30.0,
            total_timeout=300.0,
        ),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "MAX_CONCURRENT_STREAMS": str(args.sockets + 100),
        "STREAM_ORG_SHARE": "1.0",
        # The bench sends every turn in the same instant from one key, to have them all streaming at
        # once: the admission gate would rightly refuse most of such a burst. The target is holding
        # the streams, so the gate is opened as the stream cap is raised.
        "TURN_ADMISSION_MAX_PENDING": str(args.sockets + 100),
        "TURN_ADMISSION_IDLE_LIMIT": str(args.sockets + 100),
        "TURN_ADMISSION_TARGET_MS": "600000",
        "TURN_ADMISSION_TARGET_FACTOR": "0",
        # Every socket is the one key's, in one process: its caps are raised past the count as well.
        "WEBSOCKET_MAX_OPEN": str(args.reference + args.sockets + 100),
        "WEBSOCKET_MAX_PER_CALLER": str(args.reference + args.sockets + 100),
        "WEBSOCKET_HANDSHAKE_BURST": str(args.reference + args.sockets + 100),
    }
    try:
        with web_process(env) as (process, base, log):
            results = asyncio.run(measure(args, process.pid, base, secret, conversations))
            server_log = log.read_text(errors="replace")
            results["server_log_errors"] = sum(" ERROR " in line for line in server_log.splitlines())
            results["server_log_tail"] = server_log[-3000:]
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    results |= {
        "options": vars(args),
        "settings": {name: env[name] for name in SETTINGS_SHOWN},
        "open_files_limit": nofile,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    report.write(results, doc=not args.no_doc)
    print(report.summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
