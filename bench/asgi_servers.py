"""Benchmark: the same Channels application under daphne and under uvicorn, one process each, side by side.

Run from the project root (it creates and migrates its own database):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench_asgi \
        REDIS_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/asgi_servers.py

uvicorn comes from requirements-dev.txt (`uvicorn[standard]`: uvloop, httptools, websockets). Both
servers get the same environment (bench/side_by_side/processes.py's `service_env`, guardrails on),
the same enterprise organisation with every limit on and PII mode `redact_for_model`
(bench/side_by_side/seed.py) and the same fake model (first token at once, 16 chunks 2 ms apart).
The command lines are in bench/side_by_side/asgi_processes.py.

1. Concurrency 1, `--repeats` times `--rounds` interleaved rounds of five arms: D (the `openai`
   client straight to the fake model), `/v1/chat/completions` with `preset:` on each server, and a
   websocket turn on each server (`send` to the first `delta`). The added time to first token is
   the arm's p50 (p99) minus D's in the same repeat; the spread of a server's added p50 across
   repeats is the run-to-run noise a difference must pass to count.
2. Open loop, each server alone, `--rates` stepped until the p99 time to first token passes D's p50
   (through the same client) by more than `--threshold-ms`, or any request fails; done twice, so
   the sustainable rate also has a second reading.
3. The CPU time each process spent per request (from /proc: every thread, user and system) in
   each phase and step, and its resident memory after start, after phase 1 and at its peak.

It writes bench/results/asgi_servers.json and the part of docs/performance.md between
<!-- asgi-servers:start --> and <!-- asgi-servers:end -->. `--quick` is a smoke run; `--print-only`
writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import servers_django  # noqa: E402

servers_django.setup()

from django.conf import settings  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from bench.side_by_side import asgi_report, report  # noqa: E402
from bench.side_by_side.arms import Arm, OpenAIArm, WebsocketArm, interleaved  # noqa: E402
from bench.side_by_side.asgi_processes import Server, both_servers, usage  # noqa: E402
from bench.side_by_side.openloop import Target, at_rest, passes, run_step  # noqa: E402
from bench.side_by_side.processes import fake_model, service_env  # noqa: E402
from bench.side_by_side.seed import CONTENT, PRESET_SLUG, SYSTEM_PROMPT, Tenant, seed  # noqa: E402
from chatpresets.gc_tuning import freeze_startup_heap  # noqa: E402

TOKENS, TOKEN_DELAY = 16, 0.002
BASELINE_REQUESTS = 50
SERVERS = ("daphne", "uvicorn")


@dataclass(frozen=True)
class Options:
    rounds: int
    warmup: int
    repeats: int
    rates: tuple[int, ...]
    step_seconds: float
    threshold_ms: float
    knee_ms: float
    passes: int
    quick: bool
    write_files: bool


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="bench/asgi_servers.py")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 x 20 rounds, one pass of 3 s steps")
    parser.add_argument("--rounds", type=int, help="phase 1 rounds per repeat (150; quick 20)")
    parser.add_argument("--repeats", type=int, help="phase 1 repeats (4; quick 2)")
    parser.add_argument("--rates", help="phase 2 offered rates, requests/s, comma-separated")
    parser.add_argument("--step-seconds", type=float, help="seconds per phase 2 step (8; quick 3)")
    parser.add_argument("--passes", type=int, help="phase 2 passes over the rates (2; quick 1)")
    parser.add_argument("--threshold-ms", type=float, default=50.0, help="phase 2's strict p99 added bound")
    parser.add_argument("--knee-ms", type=float, default=250.0, help="phase 2 stops a server past this p99 added")
    parser.add_argument("--print-only", action="store_true", help="print the results; write no JSON or doc")
    args = parser.parse_args(argv)
    rates = tuple(int(rate) for rate in args.rates.split(",")) if args.rates else None
    return Options(
        rounds=args.rounds or (20 if args.quick else 150),
        warmup=5 if args.quick else 20,
        repeats=args.repeats or (2 if args.quick else 4),
        rates=rates or ((10, 20, 30) if args.quick else (10, 15, 20, 25, 30, 35, 40, 50, 60)),
        step_seconds=args.step_seconds or (3.0 if args.quick else 8.0),
        threshold_ms=args.threshold_ms,
        knee_ms=args.knee_ms,
        passes=args.passes or (1 if args.quick else 2),
        quick=args.quick,
        write_files=not args.print_only,
    )


def build_arms(model: str, servers: dict[str, Server], tenant: Tenant) -> list[Arm]:
    with_system = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    user_only = [{"role": "user", "content": CONTENT}]
    preset = f"preset:{PRESET_SLUG}"
    arms: list[Arm] = [OpenAIArm("D", f"{model}/v1", "unused", "fake", with_system)]
    arms += [
        OpenAIArm(f"{name} /v1", f"{s.origin}/v1", tenant.secret, preset, user_only) for name, s in servers.items()
    ]
    arms += [WebsocketArm(f"{name} ws", s.origin, tenant) for name, s in servers.items()]
    return arms


async def phase_one(model: str, servers: dict[str, Server], tenant: Tenant, options: Options) -> list[dict[str, Any]]:
    """Each repeat: interleaved rounds, then each server's CPU per request over them (/v1 and ws turns alike)."""
    repeats = []
    for index in range(options.repeats):
        print(f"phase 1, repeat {index + 1}/{options.repeats}: {options.rounds} rounds …", file=sys.stderr)
        arms = build_arms(model, servers, tenant)
        before = {name: usage(server.pid).cpu_seconds for name, server in servers.items()}
        try:
            samples = await interleaved(arms, rounds=options.rounds, warmup=options.warmup)
        finally:
            for arm in arms:
                await arm.close()
        served = 2 * (options.rounds + options.warmup)  # one /v1 call and one ws turn per round
        cpu = {name: (usage(s.pid).cpu_seconds - before[name]) * 1000 / served for name, s in servers.items()}
        repeats.append(asgi_report.repeat_summary(samples, cpu_ms_per_request=cpu))
    return repeats


async def phase_two(
    targets: list[Target], servers: dict[str, Server], baseline_ms: float, options: Options
) -> list[dict[str, Any]]:
    """Like openloop.stepped, each server alone at each rate, with its CPU per answer; a server goes on past the
    strict bound (a busy shared machine's own noise can pass it) and stops at the knee: errors, or `knee_ms`."""
    rows: list[dict[str, Any]] = []
    for number in range(options.passes):
        live = list(targets)
        for index, rate in enumerate(options.rates):
            shift = (index + number) % len(live)
            passed = []
            for target in live[shift:] + live[:shift]:
                pid = servers[target.name].pid
                before = usage(pid).cpu_seconds
                step = await run_step(target, rate, options.step_seconds)
                cpu_ms = (usage(pid).cpu_seconds - before) * 1000
                ok = passes(step, baseline_ms, options.threshold_ms)
                below_knee = passes(step, baseline_ms, options.knee_ms)
                rows.append(
                    asgi_report.step_row(
                        step, pass_number=number + 1, ok=ok, below_knee=below_knee, cpu_ms=cpu_ms, baseline=baseline_ms
                    )
                )
                print(f"  pass {number + 1} {target.name} {rate}/s: p99 {step.p(0.99):.1f} ms", file=sys.stderr)
                if below_knee:
                    passed.append(target)
                await asyncio.sleep(1.0)  # the last answers settle before the other server starts
            live = [target for target in live if target in passed]
            if not live:
                break
    return rows


def load_targets(model: str, servers: dict[str, Server], tenant: Tenant) -> tuple[Target, list[Target]]:
    with_system = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    plain = json.dumps({"model": "fake", "messages": with_system, "stream": True}).encode()
    preset = json.dumps(
        {"model": f"preset:{PRESET_SLUG}", "messages": [{"role": "user", "content": CONTENT}], "stream": True}
    ).encode()
    json_type = {"Content-Type": "application/json"}
    path = "/v1/chat/completions"
    headers = {**json_type, "Authorization": f"Bearer {tenant.secret}"}
    direct = Target("D", f"{model}{path}", json_type, plain)
    return direct, [Target(name, f"{server.origin}{path}", headers, preset) for name, server in servers.items()]


async def measure(model: str, servers: dict[str, Server], tenant: Tenant, options: Options) -> dict[str, Any]:
    memory: dict[str, dict[str, int]] = {
        name: {"rss_after_start_kb": usage(s.pid).rss_kb} for name, s in servers.items()
    }
    repeats = await phase_one(model, servers, tenant, options)
    for name, server in servers.items():
        memory[name]["rss_after_phase1_kb"] = usage(server.pid).rss_kb
    direct, targets = load_targets(model, servers, tenant)
    baseline = asgi_report.p50(await at_rest(direct, BASELINE_REQUESTS))
    print(f"phase 2: {options.rates} requests/s, {options.step_seconds:.0f} s each …", file=sys.stderr)
    steps = await phase_two(targets, servers, baseline, options)
    for name, server in servers.items():
        memory[name]["rss_end_kb"] = usage(server.pid).rss_kb
        memory[name]["rss_peak_kb"] = usage(server.pid).peak_rss_kb
    return {
        "phase1": asgi_report.phase_one(repeats),
        "phase2": asgi_report.phase_two(
            steps, baseline_ms=baseline, threshold_ms=options.threshold_ms, knee_ms=options.knee_ms
        ),
        "memory": memory,
    }


def run_facts(options: Options, load_before: tuple[float, ...]) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "quick": options.quick,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": report.git_commit(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "versions": {
            name: version(name) for name in ("daphne", "twisted", "uvicorn", "uvloop", "httptools", "websockets")
        },
        "fake_model": {"ttft_s": 0.0, "tokens": TOKENS, "token_delay_s": TOKEN_DELAY},
        "options": {
            "rounds": options.rounds,
            "warmup": options.warmup,
            "repeats": options.repeats,
            "rates": list(options.rates),
            "step_seconds": options.step_seconds,
            "passes": options.passes,
            "threshold_ms": options.threshold_ms,
            "knee_ms": options.knee_ms,
        },
    }


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the context managers, which stop the servers


def main() -> int:
    options = parse()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ensure_database()
    tenant = seed(2 * (options.rounds + options.warmup) * options.repeats)["guarded"]
    freeze_startup_heap()  # the client's own: its full collections stall every request in flight
    load_before = os.getloadavg()
    with fake_model(tokens=TOKENS, token_delay=TOKEN_DELAY) as model:
        env = service_env(model, guardrails=True)
        with both_servers(env, ws_max_bytes=settings.REQUEST_BODY_MAX_BYTES) as servers:
            measured = asyncio.run(measure(model, servers, tenant, options))
    results = {**run_facts(options, load_before), **measured}
    results["verdict"] = asgi_report.verdict(results)
    if options.write_files:
        asgi_report.write_json(results)
        asgi_report.rewrite_doc(results)
    print(asgi_report.section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
