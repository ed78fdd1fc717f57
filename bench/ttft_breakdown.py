"""Benchmark: where the service's added time to first token goes, stage by stage.

Run from the project root (about a minute on two cores):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/ttft_breakdown.py [--profile]

The fake model answers at once (time to first token 0). One organisation on the enterprise plan
switches on every limit its plan defines (at values nothing reaches) and `pii_mode:
redact_for_model`; a private preset `ttft-bench` runs the fake model.

Part 1, in this process (the Django ASGI application called directly, no server): for
`/v1/chat/completions` with `model="preset:ttft-bench"` and for a websocket `send` turn (the turn
only: the socket is connected before the clock starts), the time from the request (or frame) to the
moment the gateway posts the model request, the SQL queries in between (listed, with their time),
and every thread hop (`database_sync_to_async` / `sync_to_async`) with its duration. With
`--profile`, pyinstrument profiles the synchronous part of one turn of each (`_plan_call` and
`prepare_turn`), where most of the CPU goes.

Part 2, through daphne on loopback: p50/p95 time to first content token straight from the fake
model, through `/v1/chat/completions` (streamed, the preset) and through a websocket turn, and the
milliseconds each adds at p50.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from tests.server import free_port  # noqa: E402

MODEL_PORT = free_port()
CATALOGUE = [
    {
        "name": "fake",
        "base_url": f"http://127.0.0.1:{MODEL_PORT}/v1",
        "encoding": "o200k_base",
        "context_window": 8192,
        "max_output": 64,
    }
]
os.environ["MODEL_CATALOGUE"] = json.dumps(CATALOGUE)
os.environ["DEFAULT_MODEL"] = "fake"

import django  # noqa: E402

django.setup()

import aiohttp  # noqa: E402
from asgiref.sync import SyncToAsync  # noqa: E402
from asgiref.testing import ApplicationCommunicator  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db.backends import utils as db_utils  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from chatpresets.llm import gateway  # noqa: E402
from conversations.models import Conversation  # noqa: E402
from presets.models import Preset  # noqa: E402
from presets.services import lifecycle  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Membership, Organization, Plan, Role, User  # noqa: E402
from tests.server import daphne  # noqa: E402

SLUG = "ttft-bench"
PII_MODE = "redact_for_model"
SAMPLES = 60
WARMUP = 5
MESSAGE = "Hello, please write to jane.doe@example.com about the invoice."


@dataclass
class Tenant:
    org: Organization
    user: User
    secret: str
    preset: Preset

    def conversation(self) -> Conversation:
        return Conversation.objects.create(org=self.org, user=self.user, title="bench", preset=self.preset)


def seed() -> Tenant:
    limits = {name: _generous(name) for name in settings.PLAN_LIMITS[Plan.ENTERPRISE]}
    org, _ = Organization.objects.update_or_create(
        slug=SLUG,
        defaults={"name": SLUG, "plan": Plan.ENTERPRISE, "settings": {"limits": limits, "pii_mode": PII_MODE}},
    )
    user, _ = User.objects.get_or_create(username=SLUG)
    Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    Conversation.objects.filter(org=org).delete()
    preset = Preset.objects.filter(org=org, slug=SLUG).first() or lifecycle.preset_create(
        org=org, actor=user, name="TTFT bench", slug=SLUG, system_prompt="You answer briefly.", model="fake"
    )
    _, secret = tenancy_services.api_key_create(org=org, actor=user, name="bench", scopes=["chat"], expires_at=None)
    return Tenant(org, user, secret, preset)


def _generous(name: str) -> int:
    if name.endswith("_rpm") or "_cost_" in name:
        return 1_000_000
    return 10**12 if "_tokens_" in name else 1_000_000_000


# --- Part 1: instrumentation -------------------------------------------------------------------


@dataclass
class Trace:
    started: float = 0.0
    upstream_at: float | None = None
    queries: list[tuple[str, float]] = field(default_factory=list)
    hops: list[tuple[str, float, float]] = field(default_factory=list)  # name, start, end
    active: bool = False


TRACE = Trace()


def instrument() -> None:
    """Record every query, every thread hop and the moment the gateway posts to the model."""
    execute = db_utils.CursorWrapper.execute

    def timed_execute(self: Any, sql: str, params: Any = None) -> Any:
        began = time.perf_counter()
        try:
            return execute(self, sql, params)
        finally:
            if TRACE.active and TRACE.upstream_at is None:
                TRACE.queries.append((sql, (time.perf_counter() - began) * 1000))

    db_utils.CursorWrapper.execute = timed_execute
    hop = SyncToAsync.__call__

    async def timed_hop(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await hop(self, *args, **kwargs)
        finally:
            if TRACE.active and TRACE.upstream_at is None:
                name = getattr(self.func, "__qualname__", repr(self.func))
                TRACE.hops.append((name, began, time.perf_counter()))

    SyncToAsync.__call__ = timed_hop
    open_stream = gateway._open_stream

    async def marked_open_stream(*args: Any, **kwargs: Any) -> Any:
        if TRACE.active and TRACE.upstream_at is None:
            TRACE.upstream_at = time.perf_counter()
        return await open_stream(*args, **kwargs)

    gateway._open_stream = marked_open_stream


def begin() -> None:
    global TRACE
    TRACE = Trace(started=time.perf_counter(), active=True)


def finish() -> Trace:
    TRACE.active = False
    if TRACE.upstream_at is None:
        raise RuntimeError("the model was never called")
    return TRACE


async def v1_once(tenant: Tenant) -> Trace:
    """Through the ASGI application the server runs (the gate, the body limit, the completions route).

    asgiref's communicator, not channels': channels' turns off the closing of old connections, which
    the route leaves to `database_sync_to_async`."""
    from chatpresets.asgi import application

    body = {"model": f"preset:{SLUG}", "messages": [{"role": "user", "content": MESSAGE}], "stream": True}
    headers = [(b"authorization", f"Bearer {tenant.secret}".encode()), (b"content-type", b"application/json")]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("localhost", 80),
    }
    begin()
    request = ApplicationCommunicator(application, scope)
    await request.send_input({"type": "http.request", "body": json.dumps(body).encode()})
    start = await request.receive_output(30)
    while (await request.receive_output(30)).get("more_body"):
        pass  # the stream, read to its end
    await request.wait(30)
    if start["status"] != 200:
        raise RuntimeError(start["status"])
    return finish()


async def ws_once(tenant: Tenant, conversation: Conversation) -> Trace:
    from chatpresets.asgi import application

    path = f"/ws/orgs/{SLUG}/conversations/{conversation.pk}/"
    socket = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Bearer {tenant.secret}".encode())])
    connected, _ = await socket.connect()
    if not connected:
        raise RuntimeError("socket refused")
    begin()
    await socket.send_json_to({"type": "send", "content": MESSAGE})
    while (frame := await socket.receive_json_from(timeout=10))["type"] not in ("done", "error"):
        pass
    trace = finish()
    await socket.disconnect()
    if frame["type"] == "error":
        raise RuntimeError(frame)
    return trace


def describe(label: str, traces: list[Trace]) -> None:
    added = [(t.upstream_at - t.started) * 1000 for t in traces]
    print(f"\n== {label}: request to upstream POST, in process ==")
    print(f"p50 {statistics.median(added):.1f} ms  p95 {statistics.quantiles(added, n=20)[18]:.1f} ms")
    sample = traces[len(traces) // 2]
    db_ms = statistics.median(sum(ms for _, ms in t.queries) for t in traces)
    print(f"queries {len(sample.queries)} (median time in them {db_ms:.1f} ms), thread hops {len(sample.hops)}")
    hop_names = [name for name, _, _ in sample.hops]
    for index, name in enumerate(hop_names):
        ms = statistics.median((t.hops[index][2] - t.hops[index][1]) * 1000 for t in traces)
        print(f"  hop {index + 1}: {name:<45} {ms:6.2f} ms")
    in_hops = statistics.median(sum(end - began for _, began, end in t.hops) * 1000 for t in traces)
    print(f"  outside hops (event loop, middleware, JSON, scheduling): {statistics.median(added) - in_hops:.1f} ms")
    for sql, ms in sample.queries:
        print(f"    {ms:5.2f} ms  {' '.join(sql.split())[:150]}")


async def part_one(tenant: Tenant) -> None:
    v1 = [await v1_once(tenant) for _ in range(WARMUP + SAMPLES)][WARMUP:]
    describe("/v1/chat/completions, preset", v1)
    conversations = [await asyncio.to_thread(tenant.conversation) for _ in range(WARMUP + SAMPLES)]
    ws = [await ws_once(tenant, c) for c in conversations][WARMUP:]
    describe("websocket turn", ws)


def profile(tenant: Tenant) -> None:
    """pyinstrument over the synchronous work of one /v1 call and one turn, repeated."""
    from pyinstrument import Profiler

    from conversations import metered, services
    from conversations.api.openai_compat import _key_caller, _plan_call

    body = {"model": f"preset:{SLUG}", "messages": [{"role": "user", "content": MESSAGE}]}
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(40):
            membership, key = _key_caller(tenant.secret)
            metered.release(_plan_call(membership, key, body).metered)
    print(profiler.output_text(color=False))
    conversations = [tenant.conversation() for _ in range(40)]
    membership = Membership.objects.select_related("org", "user").get(org=tenant.org, user=tenant.user)
    profiler = Profiler(interval=0.0005)
    with profiler:
        for conversation in conversations:
            prepared = services.prepare_turn(membership=membership, conversation=conversation, content=MESSAGE)
            services.abandon_turn(prepared=prepared)
    print(profiler.output_text(color=False))


# --- Part 2: through daphne --------------------------------------------------------------------


async def first_content(response: Any, is_content: Callable[[dict[str, Any]], bool]) -> None:
    async for line in response.content:
        if line.startswith(b"data: {") and is_content(json.loads(line[6:])):
            return
    raise RuntimeError("no content")


def _delta_text(chunk: dict[str, Any]) -> bool:
    return bool(chunk.get("choices") and chunk["choices"][0]["delta"].get("content"))


async def direct_ttft(session: aiohttp.ClientSession) -> float:
    body = {"model": "fake", "messages": [{"role": "user", "content": MESSAGE}], "stream": True}
    began = time.perf_counter()
    async with session.post(f"http://127.0.0.1:{MODEL_PORT}/v1/chat/completions", json=body) as response:
        await first_content(response, _delta_text)
        elapsed = time.perf_counter() - began
        await response.read()
    return elapsed * 1000


async def v1_ttft(session: aiohttp.ClientSession, base: str, tenant: Tenant) -> float:
    body = {"model": f"preset:{SLUG}", "messages": [{"role": "user", "content": MESSAGE}], "stream": True}
    headers = {"Authorization": f"Bearer {tenant.secret}"}
    began = time.perf_counter()
    async with session.post(f"{base}/v1/chat/completions", json=body, headers=headers) as response:
        await first_content(response, _delta_text)
        elapsed = time.perf_counter() - began
        await response.read()
    return elapsed * 1000


async def ws_ttft(session: aiohttp.ClientSession, base: str, tenant: Tenant, conversation_id: Any) -> float:
    url = base.replace("http://", "ws://") + f"/ws/orgs/{SLUG}/conversations/{conversation_id}/"
    async with session.ws_connect(url, headers={"Authorization": f"Bearer {tenant.secret}"}) as socket:
        began = time.perf_counter()
        await socket.send_json({"type": "send", "content": MESSAGE})
        elapsed = None
        while (frame := await socket.receive_json(timeout=10))["type"] not in ("done", "error"):
            if frame["type"] == "delta" and elapsed is None:
                elapsed = time.perf_counter() - began
    if elapsed is None:
        raise RuntimeError(frame)
    return elapsed * 1000


def server_env(**extra: str) -> dict[str, str]:
    """What a daphne process serving the bench's organisation needs on top of this process's environment:
    DEBUG off, the fake model in the catalogue."""
    env = {"DEBUG": "false", "LOG_LEVEL": "WARNING", "DATABASE_CONN_MAX_AGE": "600"}
    return env | {"MODEL_CATALOGUE": json.dumps(CATALOGUE), "DEFAULT_MODEL": "fake"} | extra


def quantiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


async def part_two(tenant: Tenant) -> None:
    conversations = [await asyncio.to_thread(lambda: str(tenant.conversation().pk)) for _ in range(2 * SAMPLES)]
    with daphne(server_env()) as base:
        async with aiohttp.ClientSession() as session:
            samples: dict[str, list[float]] = {"model directly": [], "/v1 preset": [], "websocket turn": []}
            for round_ in range(WARMUP + SAMPLES + WARMUP):
                direct = await direct_ttft(session)
                v1 = await v1_ttft(session, base, tenant)
                ws = await ws_ttft(session, base, tenant, conversations.pop())
                if round_ >= WARMUP * 2:
                    samples["model directly"].append(direct)
                    samples["/v1 preset"].append(v1)
                    samples["websocket turn"].append(ws)
    print("\n== through daphne (first content token) ==")
    direct_p50 = statistics.median(samples["model directly"])
    for label, values in samples.items():
        p50, p95 = quantiles(values)
        print(f"{label:>16}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  added p50 {p50 - direct_p50:6.1f} ms")


def main() -> int:
    ensure_database()
    tenant = seed()
    fake = start_fake_model(MODEL_PORT, ttft=0)
    try:
        if "--profile" in sys.argv:
            profile(tenant)
        instrument()
        asyncio.run(part_one(tenant))
        if "--no-daphne" not in sys.argv:
            asyncio.run(part_two(tenant))
    finally:
        fake.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
