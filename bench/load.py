"""Benchmark: one web process under open-loop load; database connections held, errors and latency.

Run from the project root:

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/load.py

It starts the fake model (`manage.py fake_llm`, 20 ms to first token, 5 tokens) and one daphne
process on loopback with the default connection pool (DATABASE_POOL_* from the environment
apply). For each rate (10, 20, 40 and 80 requests per second) it fires requests on a fixed
schedule for PHASE_SECONDS whether or not earlier ones have finished (open loop, so a slow
server meets a growing queue instead of a politely waiting client): alternately `GET
/api/v1/me/` (DRF, API key) and a chat turn (`POST …/messages/`, JSON answer, a fresh
conversation each). While a phase runs it samples the daphne process's connections in
`pg_stat_activity` (told apart by `application_name`) every 100 ms. Per rate it prints the most
and the final connections held, the answers by status (and client-side failures), p50 and p99
latency per kind, and the rate achieved. Organisation `load-bench` is on the enterprise plan with
16 members, so the guardrails run as in production without refusing the load.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from conversations.models import Conversation  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Membership, Organization, Role, User  # noqa: E402
from tests.server import daphne, fake_model_env, free_port  # noqa: E402

RATES = (10, 20, 40, 80)
PHASE_SECONDS = 15.0
DRAIN_SECONDS = 60.0  # a request still open this long after its phase counts as a client timeout
SAMPLE_SECONDS = 0.1
USERS = 16
APPLICATION_NAME = "chatpresets-bench-load"


@dataclass
class Phase:
    rate: int
    statuses: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"me": [], "turn": []})
    peak_connections: int = 0
    final_connections: int = 0
    sent: int = 0
    elapsed: float = 0.0


def seed(turns: int) -> tuple[list[str], list[tuple[int, str]]]:
    """Keys of USERS members and `turns` fresh conversations, as (index of the owner's key, id)."""
    org, _ = Organization.objects.get_or_create(slug="load-bench", defaults={"name": "Load bench"})
    org.plan = "enterprise"
    org.save(update_fields=["plan"])
    keys, users = [], []
    for n in range(USERS):
        user, _ = User.objects.get_or_create(username=f"load-bench-{n}")
        Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
        _, key = tenancy_services.api_key_create(org=org, actor=user, name="load", scopes=["chat"], expires_at=None)
        keys.append(key)
        users.append(user)
    conversations = Conversation.objects.bulk_create(
        Conversation(org=org, user=users[n % USERS], title="load") for n in range(turns)
    )
    return keys, [(n % USERS, str(c.pk)) for n, c in enumerate(conversations)]


def held_connections(admin: psycopg.Connection) -> int:
    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])
    return row.fetchone()[0]


def admin_connection() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname="postgres", autocommit=True
    )


async def run_phase(base: str, rate: int, keys: list[str], conversations: list[tuple[int, str]]) -> Phase:
    phase, done = Phase(rate), asyncio.Event()
    admin = admin_connection()

    async def sample() -> None:
        while not done.is_set():
            phase.peak_connections = max(phase.peak_connections, await asyncio.to_thread(held_connections, admin))
            await asyncio.sleep(SAMPLE_SECONDS)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        started = time.perf_counter()
        kind = "me" if n % 2 == 0 else "turn"
        try:
            if kind == "me":
                headers = {"Authorization": f"Bearer {keys[n % USERS]}"}
                request = session.get(f"{base}/api/v1/me/", headers=headers)
            else:
                owner, conversation = conversations.pop()
                headers = {"Authorization": f"Bearer {keys[owner]}"}
                path = f"{base}/api/v1/orgs/load-bench/conversations/{conversation}/messages/"
                request = session.post(path, json={"content": f"question {n}"}, headers=headers)
            async with request as response:
                await response.read()
                phase.statuses[str(response.status)] += 1
        except (TimeoutError, aiohttp.ClientError) as error:
            phase.statuses[f"client:{type(error).__name__}"] += 1
            return
        phase.latencies[kind].append((time.perf_counter() - started) * 1000)

    sampler = asyncio.create_task(sample())
    timeout = aiohttp.ClientTimeout(total=PHASE_SECONDS + DRAIN_SECONDS)
    connector = aiohttp.TCPConnector(limit=0)  # open loop: never queue in the client
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started, tasks = time.perf_counter(), []
        total = int(rate * PHASE_SECONDS)
        for n in range(total):  # bounded: `total` requests, each at its scheduled time
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, n)))
        phase.sent = total
        await asyncio.gather(*tasks)
        phase.elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)  # connections go back to the pool when each request's thread finishes
    done.set()
    await sampler
    phase.final_connections = held_connections(admin)
    admin.close()
    return phase


def percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def report(phase: Phase) -> None:
    ok = sum(count for status, count in phase.statuses.items() if status.startswith("2"))
    errors = {status: count for status, count in sorted(phase.statuses.items()) if not status.startswith("2")}
    latency = "  ".join(
        f"{kind} p50 {percentile(values, 0.5):7.1f} ms p99 {percentile(values, 0.99):7.1f} ms"
        for kind, values in phase.latencies.items()
    )
    print(
        f"{phase.rate:>3} req/s: sent {phase.sent / PHASE_SECONDS:5.1f}/s  answered {ok / phase.elapsed:5.1f}/s  "
        f"connections max {phase.peak_connections} final {phase.final_connections}  "
        f"errors {errors or 'none'}  {latency}"
    )


def main() -> int:
    ensure_database()
    keys, conversations = seed(sum(int(rate * PHASE_SECONDS) for rate in RATES))
    model_port = free_port()
    fake = start_fake_model(model_port)
    database_url = os.environ["DATABASE_URL"]
    separator = "&" if "?" in database_url else "?"
    env = {
        "DATABASE_URL": f"{database_url}{separator}application_name={APPLICATION_NAME}",
        # The catalogue's default timeouts: an overloaded server waits for the model as in production.
        **fake_model_env(
            f"http://127.0.0.1:{model_port}/v1",
            context_window=8192,
            max_output=64,
            ttft_timeout=30.0,
            total_timeout=300.0,
        ),
        "DEBUG": "false",
        "API_THROTTLE_USER_RATE": "1000000/min",
        "LOG_LEVEL": "ERROR",
    }
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    print(f"one daphne process; pool {pool}; {PHASE_SECONDS:.0f} s per rate, open loop")
    try:
        with daphne(env) as base:
            for rate in RATES:
                report(asyncio.run(run_phase(base, rate, keys, conversations)))
    except subprocess.TimeoutExpired:
        print("daphne did not exit within 10 s of SIGTERM (requests still in flight); it was killed")
    finally:
        fake.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
