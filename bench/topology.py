"""Benchmark: the production topology (nginx in front of 1, 2 and 4 web processes) under open-loop load.

Run from the project root:

    flock /tmp/bench.lock env DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench_topology \
        REDIS_URL=redis://127.0.0.1:6379/8 .venv/bin/python bench/topology.py

`--quick` is a smoke run (1 and 2 processes, 5, 10, 20 and 40 requests/s for 3 s each); `--processes`,
`--rates`, `--step-seconds`, `--sequential`, `--repeats`, `--past-knee`, `--ttft`, `--tokens`, `--token-delay` and
`--print-only` change the rest (`--help`).

One fake model (`manage.py fake_llm`: 20 ms to first token, then 20 chunks 10 ms apart) serves every
topology. For each N, `bin/cluster` runs nginx, N daphne processes, the Celery workers and beat on the
bench database, Redis and a RabbitMQ vhost of the bench's own; the organisation is the side-by-side
bench's `gateway-bench` (enterprise plan, every limit on where no run reaches it, PII mode
`redact_for_model`), and each request is a streamed `POST /v1/chat/completions` with
`model: "preset:gateway-bench"` through nginx. Per N: concurrency 1 (the fake model alone and through
nginx, interleaved); then open-loop steps at rising rates until two have failed to hold (see
bench/topology_parts/rules.py for "holds"); then one step at 80% and `--repeats` steps (3) at 2x the
sustainable rate, each judged.
`bin/cluster stop` ends each topology before the next starts.

It writes bench/results/topology.json and the section of docs/performance.md between
<!-- topology:start --> and <!-- topology:end -->.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import servers_django  # noqa: E402

servers_django.setup()

from bench.client_gc import pauses  # noqa: E402
from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from bench.side_by_side.openloop import Target, ceiling  # noqa: E402
from bench.side_by_side.report import git_commit  # noqa: E402
from bench.side_by_side.seed import CONTENT, PRESET_SLUG, SYSTEM_PROMPT, Tenant, seed  # noqa: E402
from bench.topology_parts import cpu, report, rules  # noqa: E402
from bench.topology_parts.cluster import cluster, ensure_vhost  # noqa: E402
from bench.topology_parts.load import open_loop, sequential  # noqa: E402
from bench.topology_parts.options import Options, parse  # noqa: E402
from chatpresets.gc_tuning import freeze_startup_heap  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Organization, User  # noqa: E402
from tests.server import free_port  # noqa: E402

SETTLE_SECONDS = 2.0  # the previous step's last answers finish before the next step starts
CEILING_SECONDS = 5.0
# bin/cluster serves before its Celery workers and beat have finished importing: let them, first.
STARTED_SECONDS = 15.0


def targets_for(model: str, origin: str, secrets: list[str]) -> tuple[Target, list[Target]]:
    """The fake model alone, and the preset through nginx for each caller: the same prompt reaches the model."""
    json_type = {"Content-Type": "application/json"}
    with_system = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    plain = json.dumps({"model": "fake", "messages": with_system, "stream": True}).encode()
    preset = json.dumps(
        {"model": f"preset:{PRESET_SLUG}", "messages": [{"role": "user", "content": CONTENT}], "stream": True}
    ).encode()
    path = "/v1/chat/completions"
    routed = [
        Target("T", f"{origin}{path}", {**json_type, "Authorization": f"Bearer {secret}"}, preset) for secret in secrets
    ]
    return Target("D", f"{model}{path}", json_type, plain), routed


def caller_secrets(tenant: Tenant, callers: int) -> list[str]:
    """The tenant's key and more of its member's, so the load comes from `callers` callers, as a
    service's traffic does, not from one client the admission gate would hold back as a flood."""
    org, user = Organization.objects.get(slug=tenant.slug), User.objects.get(username=tenant.slug)
    more = [
        tenancy_services.api_key_create(org=org, actor=user, name=f"topology-{n}", scopes=["chat"], expires_at=None)[1]
        for n in range(callers - 1)
    ]
    return [tenant.secret, *more]


async def step(targets: list[Target], rate: float, seconds: float, baseline_ms: float) -> dict[str, Any]:
    with cpu.measured() as usage, pauses() as collections:
        stepped = await open_loop(targets, rate, seconds)
    measured = rules.row(stepped, baseline_ms=baseline_ms) | usage | collections
    print(f"  {rate:g}/s: {json.dumps(measured)}", file=sys.stderr)
    await asyncio.sleep(SETTLE_SECONDS)
    return measured


async def measure(direct: Target, routed: list[Target], options: Options) -> dict[str, Any]:
    """One topology: concurrency 1, the step-up to the knee, then 80% and 2x of the sustainable rate."""
    load_before = os.getloadavg()[0]
    one = rules.concurrency_one(*await sequential(direct, routed[0], options.sequential))
    print(f"  concurrency 1: {json.dumps(one)}", file=sys.stderr)
    baseline = one["direct_ttft_p50_ms"]
    steps: list[dict[str, Any]] = []
    for rate in options.rates:
        steps.append(await step(routed, rate, options.step_seconds, baseline))
        if rules.should_stop(steps, options.past_knee):
            break
    best = rules.sustainable(steps)
    below, above = None, []
    if best:
        below = await step(routed, round(rules.BELOW_FACTOR * best, 1), options.step_seconds, baseline)
        twice = round(rules.ABOVE_FACTOR * best, 1)
        above = [await step(routed, twice, options.step_seconds, baseline) for _ in range(options.repeats)]
    return {
        "concurrency_one": one,
        "steps": steps,
        "sustainable_rps": best,
        "knee_reached": not all(rules.holds(s) for s in steps),
        "peak_answered_rps": max(s["answered_rps"] for s in [*steps, below or steps[0], *above]),
        "at_80_percent": below,
        "at_2x": above,
        "targets": rules.targets(one["added_p99_ms"], below, above),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the context managers, which stop the cluster and the model


def run_all(options: Options, secrets: list[str]) -> dict[str, Any]:
    broker = ensure_vhost()
    port = free_port()
    model_process = start_fake_model(port, ttft=options.ttft, tokens=options.tokens, token_delay=options.token_delay)
    model = f"http://127.0.0.1:{port}"
    try:
        direct, _ = targets_for(model, model, secrets)
        print("fake model ceiling …", file=sys.stderr)
        model_ceiling = asyncio.run(ceiling(direct, CEILING_SECONDS))
        topologies: dict[str, Any] = {}
        for processes in options.processes:
            print(f"{processes} web process(es) …", file=sys.stderr)
            urls = {"database_url": os.environ["DATABASE_URL"], "redis_url": os.environ["REDIS_URL"]}
            with cluster(processes=processes, model=model, broker=broker, **urls) as origin:
                time.sleep(STARTED_SECONDS)
                topologies[str(processes)] = asyncio.run(measure(*targets_for(model, origin, secrets), options))
    finally:
        model_process.terminate()
        model_process.wait(timeout=10)
    return {"fake_model_ceiling_rps": round(model_ceiling, 1), "topologies": topologies}


def run_facts(options: Options, load_before: tuple[float, ...]) -> dict[str, Any]:
    """What a reader needs to weigh the numbers: when, what code, how busy the machine was."""
    return {
        "quick": options.quick,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "fake_model": {"ttft_s": options.ttft, "tokens": options.tokens, "token_delay_s": options.token_delay},
        "options": {
            "processes": list(options.processes),
            "rates": list(options.rates),
            "step_seconds": options.step_seconds,
            "sequential": options.sequential,
            "repeats": options.repeats,
            "past_knee": options.past_knee,
            "callers": options.callers,
        },
    }


def main() -> int:
    options = parse()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ensure_database()
    secrets = caller_secrets(seed(0)["guarded"], options.callers)
    load_before = os.getloadavg()
    freeze_startup_heap()  # the client's own: its full collections stall every request in flight
    measured = run_all(options, secrets)
    results = {**run_facts(options, load_before), **measured}
    results["scaling"] = rules.scaling(
        {int(n): t["sustainable_rps"] for n, t in measured["topologies"].items()},
        {int(n): t["peak_answered_rps"] for n, t in measured["topologies"].items()},
    )
    if options.write_files:
        report.write_json(results)
        report.rewrite_doc(results)
    print(report.section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
