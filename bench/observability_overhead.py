"""Benchmark: what metrics, traces and the audit trail cost on the chat path, on against off, interleaved.

Run from the project root (it creates and migrates its own database):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/observability_overhead.py

`--quick` is a smoke run (30 rounds, 5 audit rounds); `--rounds`, `--audit-rounds`, `--audit-batch` and
`--print-only` change the rest (`--help`). The full run takes a few minutes on two cores.

Latency. One fake model (`manage.py fake_llm`: first token at once, 16 chunks 2 ms apart) and four
ChatPresets processes (daphne) on loopback, identical but for the switches under test:
  off                METRICS_ENABLED=false, no OTLP endpoint and OTEL_ENABLED=false (no tracing);
  control            the same as off, on a process of its own: how much two identical processes differ;
  metrics            METRICS_ENABLED=true (multiprocess directory and METRICS_TOKEN set);
  metrics+traces     the same, and OTEL_EXPORTER_OTLP_ENDPOINT at a local OTLP/HTTP sink in this process.
Each process serves two arms: `/v1/chat/completions` with `model: "preset:gateway-bench"` and a turn over
the conversation websocket, with the guardrails and PII mode of bench/gateway_side_by_side.py's arm O
(its harness: the same seed, arms and round-robin). Plus D, the `openai` client straight to the fake
model. Every round sends one request per arm, one at a time, the first arm rotating. The cost of a
switch is the median of the per-round differences between its arm and the `off` arm, with a bootstrap
interval. After the run the bench reads `/metrics` from the off and metrics processes and counts the
sink's trace exports, so the report shows whether the switches were live in the code measured.

Audit append. In this process, against the same database: `audit.services.record(...)` each in its
own transaction, against a plain `INSERT` of the same row (copied from a recorded event) into a table
made `LIKE` the audit table (same columns, defaults and non-unique indexes, no triggers), in
alternating batches. It reports per-event p50/p95 and events per second of each.

It writes bench/results/observability_overhead.json and the section of docs/performance.md between
<!-- observability-overhead:start --> and <!-- observability-overhead:end -->.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ["DEBUG"] = "false"
# The bench process only validates the preset against this; the servers get the fake model's address.
os.environ["MODEL_CATALOGUE"] = json.dumps(
    [{"name": "fake", "base_url": "http://127.0.0.1:9/v1", "encoding": "o200k_base", "context_window": 8192}]
)
os.environ["DEFAULT_MODEL"] = "fake"

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402

from bench import overhead_stats  # noqa: E402
from bench.database import ensure_database  # noqa: E402
from bench.observability_audit import append_cost  # noqa: E402
from bench.side_by_side import report  # noqa: E402
from bench.side_by_side.arms import Arm, OpenAIArm, WebsocketArm, interleaved  # noqa: E402
from bench.side_by_side.processes import fake_model, service_env  # noqa: E402
from bench.side_by_side.seed import CONTENT, PRESET_SLUG, SYSTEM_PROMPT, Tenant, all_guardrails_on, seed_tenant  # noqa: E402
from tests.server import daphne, free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "observability_overhead.json"
SWITCHES = ("off", "control", "metrics", "metrics+traces")  # control: `off` again, the noise floor


class OtlpSink:
    """An OTLP/HTTP receiver that accepts every export and counts them: traces leave the process, and
    the collector's own cost stays out of the measurement."""

    def __init__(self) -> None:
        sink = self
        self.exports = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.exports += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> OtlpSink:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def switch_env(switch: str, *, token: str, metrics_dir: Path, sink: str) -> dict[str, str]:
    """The environment that differs between the processes; everything else is the same."""
    off = {"METRICS_ENABLED": "false", "OTEL_ENABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
    if switch in ("off", "control"):
        return off
    metrics = {**off, "METRICS_ENABLED": "true", "METRICS_TOKEN": token, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    if switch == "metrics":
        return metrics
    return {**metrics, "OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_SERVICE_NAME": "chatpresets-bench"}


@contextlib.contextmanager
def servers(token: str, sink: OtlpSink) -> Iterator[tuple[str, dict[str, str]]]:
    """The fake model's origin and one ChatPresets origin per switch."""
    with contextlib.ExitStack() as stack:
        model = stack.enter_context(fake_model(tokens=16, token_delay=0.002))
        origins = {}
        for switch in SWITCHES:
            metrics_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="metrics-")))
            env = service_env(model, guardrails=True) | switch_env(
                switch, token=token, metrics_dir=metrics_dir, sink=sink.url
            )
            origins[switch] = stack.enter_context(daphne(env, timeout=60.0))
        yield model, origins


def build_arms(model: str, origins: dict[str, str], tenant: Tenant) -> list[Arm]:
    direct = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    user_only = [{"role": "user", "content": CONTENT}]
    arms: list[Arm] = [OpenAIArm(overhead_stats.DIRECT, f"{model}/v1", "unused", "fake", direct)]
    preset = f"preset:{PRESET_SLUG}"
    arms += [
        OpenAIArm(f"v1 {switch}", f"{origin}/v1", tenant.secret, preset, user_only)
        for switch, origin in origins.items()
    ]
    arms += [WebsocketArm(f"ws {switch}", origin, tenant) for switch, origin in origins.items()]
    return arms


def probe(origin: str, token: str) -> dict[str, Any]:
    """/metrics as Prometheus would scrape it: the status, and how many chat-turn series it holds."""
    response = httpx.get(f"{origin}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    lines = response.text.splitlines() if response.status_code == 200 else []
    return {
        "status": response.status_code,
        "turn_series": sum(1 for line in lines if line.startswith("chatpresets_chat_turns_total")),
    }


async def measure(
    model: str, origins: dict[str, str], tenant: Tenant, rounds: int, warmup: int
) -> dict[str, list[float]]:
    arms = build_arms(model, origins, tenant)
    try:
        samples = await interleaved(arms, rounds=rounds, warmup=warmup)
    finally:
        for arm in arms:
            await arm.close()
    return {name: arm_samples.ttft_ms for name, arm_samples in samples.items()}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/observability_overhead.py")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 30 rounds, 5 audit rounds")
    parser.add_argument("--rounds", type=int, help="latency rounds, one request per arm each (300; quick 30)")
    parser.add_argument("--audit-rounds", type=int, help="alternating audit batches per kind (20; quick 5)")
    parser.add_argument("--audit-batch", type=int, default=100, help="events per audit batch")
    parser.add_argument("--print-only", action="store_true", help="print the results; write no JSON or doc")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (30 if args.quick else 300)
    args.warmup = 5 if args.quick else 20
    args.audit_rounds = args.audit_rounds or (5 if args.quick else 20)
    return args


def main() -> int:
    args = parse()
    ensure_database()
    # Every websocket arm takes a fresh conversation per request.
    tenant = seed_tenant("observability-bench", all_guardrails_on(), (args.rounds + args.warmup) * len(SWITCHES))
    token, load_before = secrets.token_urlsafe(24), os.getloadavg()[0]
    with OtlpSink() as sink, servers(token, sink) as (model, origins):
        ttft_ms = asyncio.run(measure(model, origins, tenant, args.rounds, args.warmup))
        probes = {"off": probe(origins["off"], token), "metrics": probe(origins["metrics"], token)}
        probes["otlp_exports"] = sink.exports
    results = {
        "quick": args.quick,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": report.git_commit(),
        "rounds": args.rounds,
        "warmup": args.warmup,
        "load_before": round(load_before, 2),
        "latency": overhead_stats.summarise(ttft_ms),
        "probes": probes,
        "audit": append_cost(tenant, rounds=args.audit_rounds, batch=args.audit_batch),
        "load_after": round(os.getloadavg()[0], 2),
    }
    if not args.print_only:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        report.replace_marked(report.DOC, overhead_stats.START, overhead_stats.END, overhead_stats.section(results))
    print(overhead_stats.section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
