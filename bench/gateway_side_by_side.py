"""Benchmark: ChatPresets' added latency against LiteLLM's, side by side, in one run on loopback.

Run from the project root (the first run also installs LiteLLM, see below):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/gateway_side_by_side.py

`--quick` is a smoke run (30 rounds, phase 2 at 5, 10 and 20 requests/s for 3 s each); `--rounds`,
`--rates 5,10,15`, `--step-seconds`, `--threshold-ms`, `--tokens`, `--token-delay` and `--print-only`
change the rest (`--help`). The full run takes five to ten minutes on two cores.

LiteLLM: `litellm[proxy]` at the release pinned in bench/side_by_side/litellm_env.py is installed by
the bench into its own virtualenv, ~/.cache/chatpresets-bench/litellm-<version>, reused on later runs;
matplotlib (for the chart) goes there too. Neither is a project dependency. LiteLLM runs as
`litellm --config <generated yaml> --port P --num_workers 1` with LITELLM_MASTER_KEY set, no
callbacks and no database, its one model routed to the fake model (`openai/` provider, api_base).

All servers share one fake model (`manage.py fake_llm`: first token at once, 16 chunks 2 ms apart)
and the same prompt (a preset's system prompt and a user message with an e-mail address and a phone
number). The arms, interleaved round-robin:
  D   the `openai` client straight to the fake model (the baseline every other arm is measured over);
  F   bench/passthrough_proxy.py, a minimal aiohttp pass-through: the floor for any Python proxy;
  L   the LiteLLM proxy;
  O   ChatPresets POST /v1/chat/completions, model "preset:gateway-bench", every limit of the
      enterprise plan on (set where the run never reaches it), PII mode redact_for_model, a usage
      record stored per call (and an audit event if a soft limit is crossed: never here), DEBUG off;
  O'  the same on a second ChatPresets process with GUARDRAILS_ENABLED=false and no PII mode;
  W   a ChatPresets turn over the conversation websocket (user message and answer stored), timed from
      the `send` frame to the first `delta` frame.
First it measures the fake model's ceiling (answers/s to 32 waiting clients, with D). Phase 1,
concurrency 1: time to first token and the gaps between chunks per arm; the added time (arm minus D)
at p50 and p99, the p99 added gap, and (O-D)/(L-D), (W-D)/(L-D) and O/O'. Phase 2, for F, L and O,
each alone: open-loop arrivals at each offered rate until the p99 time to first token passes the p50
of D (through the same client, one request at a time) by more than the threshold (50 ms), or any
request fails; the sustainable rate of each and O/L. An arm that answered within 10% of the fake
model's ceiling is flagged: it measured the fake.

It writes bench/results/gateway_side_by_side.json, docs/perf/gateway_side_by_side.png, and the section
of docs/performance.md between <!-- gateway-side-by-side:start --> and <!-- gateway-side-by-side:end -->.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import servers_django  # noqa: E402

servers_django.setup()

from bench.database import ensure_database  # noqa: E402
from bench.side_by_side import report  # noqa: E402
from bench.side_by_side.arms import build_arms, interleaved  # noqa: E402
from bench.side_by_side.litellm_env import PINNED_VERSION, ensure_litellm, ensure_matplotlib  # noqa: E402
from bench.side_by_side.openloop import Target, at_rest, ceiling, stepped  # noqa: E402
from bench.side_by_side.options import Options, parse  # noqa: E402
from bench.side_by_side.processes import LITELLM_MASTER_KEY, Endpoints, all_servers  # noqa: E402
from bench.side_by_side.seed import CONTENT, PRESET_SLUG, SYSTEM_PROMPT, Tenant, seed  # noqa: E402
from bench.side_by_side.stats import percentile  # noqa: E402
from bench.side_by_side.summary import phase_one, phase_two  # noqa: E402
from chatpresets.gc_tuning import freeze_startup_heap  # noqa: E402

CEILING_SECONDS = 5.0
BASELINE_REQUESTS = 50


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def load_targets(endpoints: Endpoints, guarded: Tenant) -> tuple[Target, list[Target]]:
    """D (for the ceiling), and F, L and O for phase 2, as raw HTTP requests."""
    with_system = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    plain = json.dumps({"model": "fake", "messages": with_system, "stream": True}).encode()
    preset = json.dumps(
        {"model": f"preset:{PRESET_SLUG}", "messages": [{"role": "user", "content": CONTENT}], "stream": True}
    ).encode()
    json_type = {"Content-Type": "application/json"}
    path = "/v1/chat/completions"
    direct = Target("D", f"{endpoints.model}{path}", json_type, plain)
    return direct, [
        Target("F", f"{endpoints.passthrough}{path}", json_type, plain),
        Target("L", f"{endpoints.litellm}{path}", {**json_type, **bearer(LITELLM_MASTER_KEY)}, plain),
        Target("O", f"{endpoints.guarded}{path}", {**json_type, **bearer(guarded.secret)}, preset),
    ]


async def measure(endpoints: Endpoints, tenants: dict[str, Tenant], options: Options) -> dict[str, Any]:
    direct, targets = load_targets(endpoints, tenants["guarded"])
    print("fake model ceiling …", file=sys.stderr)
    ceiling_rps = await ceiling(direct, 3.0 if options.quick else CEILING_SECONDS)
    arms = build_arms(endpoints, tenants["guarded"], tenants["plain"])
    print(f"phase 1: {options.rounds} rounds of {len(arms)} arms …", file=sys.stderr)
    try:
        samples = await interleaved(arms, rounds=options.rounds, warmup=options.warmup)
    finally:
        for arm in arms:
            await arm.close()
    # Phase 2's client is lighter than the `openai` one: its baseline is D through the same client.
    baseline = percentile(await at_rest(direct, BASELINE_REQUESTS), 0.5)
    print(f"phase 2: {options.rates} requests/s, {options.step_seconds:.0f} s each …", file=sys.stderr)
    steps = await stepped(targets, options.rates, options.step_seconds, baseline, options.threshold_ms)
    return {
        "ceiling_rps": round(ceiling_rps, 1),
        "phase1": phase_one(samples),
        "phase2": phase_two(steps, baseline_ms=baseline, threshold_ms=options.threshold_ms, ceiling_rps=ceiling_rps),
    }


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the context managers, which stop the servers


def run_facts(options: Options, litellm_version: str, load_before: tuple[float, ...]) -> dict[str, Any]:
    """What a reader needs to weigh the numbers: when, what code, which LiteLLM, how busy the machine was."""
    return {
        "quick": options.quick,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": report.git_commit(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "litellm": {"version": litellm_version, "pinned": PINNED_VERSION},
        "fake_model": {"ttft_s": 0.0, "tokens": options.tokens, "token_delay_s": options.token_delay},
        "options": {
            "rounds": options.rounds,
            "warmup": options.warmup,
            "rates": list(options.rates),
            "step_seconds": options.step_seconds,
            "threshold_ms": options.threshold_ms,
        },
    }


def main() -> int:
    options = parse()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ensure_database()
    litellm = ensure_litellm()
    chart_python = ensure_matplotlib(litellm) if options.write_files else None
    tenants = seed(options.rounds + options.warmup)
    freeze_startup_heap()  # the client's own: its full collections stall every request in flight
    load_before = os.getloadavg()
    with all_servers(litellm, tokens=options.tokens, token_delay=options.token_delay) as endpoints:
        measured = asyncio.run(measure(endpoints, tenants, options))
    results = {**run_facts(options, litellm.version, load_before), **measured}
    if chart_python is not None:
        report.write_json(results)
        report.draw_chart(chart_python)
        report.rewrite_doc(results)
    print(report.section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
