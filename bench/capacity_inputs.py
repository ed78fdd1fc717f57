"""Benchmark: what one chat turn costs the database and Redis, the inputs of docs/capacity.md.

Run from the project root (about five minutes on two cores), on a database of its own:

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench_capacity \
        REDIS_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/capacity_inputs.py

It creates and migrates the database, refuses to run twice on it (the counts must start clean),
and seeds an enterprise-plan organisation through the services: MEMBERS members, each with an
API key and a private preset, every plan limit on (none reached) and PII mode `redact_for_model`.
Then, each phase measured apart (PostgreSQL's per-table row counters, table sizes, and every SQL
statement Django sends, counted by verb and table in the process that sends it):

  preset edits    EDITS content changes per preset through `preset_update` (bench process);
  conversations   CONVERSATIONS conversations created through the API (a daphne process);
  turns           TURNS turns in each, over the conversation websocket, the answer streamed from
                  the fake model (`manage.py fake_llm`, 20 ms to first token, a fixed answer of
                  about 250 tokens); titles run on the server's background thread as without a
                  broker, so their writes count (one title per conversation);
  paced           PACED conversations answer at once, one token every 20 ms (50 tokens/s): Redis
                  keys sampled while they stream and after.

Then it times the summaries queue's two tasks (title, running summary) in this process against
the fake model, rolls the day's usage up (UsageDaily rows per member and day), rewrites the
tables (VACUUM FULL) to size the live rows alone, and writes bench/results/capacity_inputs.json.
Redis keys are reported by pattern (ids replaced), only those that were not there before the
run; it deletes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db.models import Avg, Count, Sum  # noqa: E402

from bench.capacity import chat, probes, statement_counter  # noqa: E402
from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from chatpresets.llm import catalogue  # noqa: E402
from conversations import tasks, usage  # noqa: E402
from conversations.models import Conversation, Message, UsageRecord  # noqa: E402
from tests.server import fake_model_env, free_port, stop, wait_until_serving  # noqa: E402

MEMBERS = 20
EDITS = 10
CONVERSATIONS = 250
TURNS = 8
PACED = 32
CONCURRENCY = 8
TIMED_TASKS = 30
RESULTS = ROOT / "bench" / "results" / "capacity_inputs.json"
MODEL_PRICES = {"price_in_per_million": "0.15", "price_out_per_million": "0.60"}  # gpt-4o-mini's, as in settings


def spawn_counting_daphne(env: dict[str, str], counts: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="capacity-daphne-", suffix=".log")[1])
    with log.open("wb") as stderr:
        command = [sys.executable, "-m", "bench.capacity.statement_counter", str(counts)]
        command += ["-b", "127.0.0.1", "-p", str(port), "chatpresets.asgi:application"]
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, process, 30.0, log)
    return process, base


class Phase:
    """Row counters, sizes and statement counts around one phase of work."""

    def __init__(self, conn: Any, statements: Any) -> None:
        self.conn, self.statements = conn, statements
        self.counters = probes.table_counters(conn)
        self.tables = sorted(self.counters)
        self.sizes = probes.table_sizes(conn, self.tables)
        self.sent = statements()
        self.started = time.perf_counter()

    def end(self, units: int) -> dict[str, Any]:
        seconds = time.perf_counter() - self.started
        counters = probes.table_counters(self.conn)
        sizes = probes.table_sizes(self.conn, self.tables)
        sent = self.statements() - self.sent
        by_verb: dict[str, float] = {}
        for key, count in sent.items():
            kind, verb, _table = key.split(" ", 2)
            if kind == "statement":
                by_verb[verb] = round(by_verb.get(verb, 0) + count / units, 3)
        return {
            "units": units,
            "seconds": round(seconds, 1),
            "rows_per_unit": probes.counter_delta(self.counters, counters, units),
            "statements_per_unit": dict(sorted(by_verb.items())),
            "statements_by_table_per_unit": {
                key.removeprefix("statement "): round(count / units, 3)
                for key, count in sorted(sent.items())
                if key.startswith("statement ")
            },
            "preset_table_reads_per_unit": round(
                sum(count for key, count in sent.items() if key.startswith("touches SELECT presets_")) / units, 3
            ),
            "bytes_per_row_added": probes.bytes_per_row(self.sizes, sizes),
        }


def configure_fake_model(model_url: str, **config: Any) -> None:
    httpx.post(f"{model_url}/_control/config", json=config, timeout=5).raise_for_status()


def wait_for_titles(org_id: str, conversation_ids: list[str], timeout: float = 60.0) -> int:
    """Titles are written on the server's background thread after the second message: wait for them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        missing = Conversation.objects.filter(org_id=org_id, pk__in=conversation_ids, title="").count()
        if not missing:
            return 0
        time.sleep(0.5)
    return missing


async def paced_phase(base: str, conversations: list, client: Any, before: set[bytes]) -> dict[str, Any]:
    """One turn in each conversation at once at 50 tokens/s; Redis keys mid-stream and after."""
    answer_seconds = 0.02 * len(chat.ANSWER.split())
    run = asyncio.create_task(chat.run_turns(base, conversations, turns=1, concurrency=len(conversations)))
    await asyncio.sleep(answer_seconds / 2)
    in_flight = probes.key_report(client, probes.redis_keys(client) - before)
    await run
    await asyncio.sleep(1.0)  # the relay's last batch and the settles
    return {
        "streams": len(conversations),
        "answer_seconds": round(answer_seconds, 1),
        "in_flight": in_flight,
        "after": probes.key_report(client, probes.redis_keys(client) - before),
    }


def usage_per_call() -> dict[str, Any]:
    rows = UsageRecord.objects.values("kind").annotate(
        calls=Count("id"), prompt=Avg("prompt_tokens"), completion=Avg("completion_tokens"), cost=Sum("cost")
    )
    by_turn = (
        Message.objects.filter(role="assistant", status="complete")
        .values("seq")
        .annotate(prompt=Avg("prompt_tokens"), completion=Avg("completion_tokens"), answers=Count("id"))
        .order_by("seq")
    )
    return {
        "by_kind": {
            row["kind"]: {
                "calls": row["calls"],
                "prompt_tokens_mean": round(row["prompt"], 1),
                "completion_tokens_mean": round(row["completion"], 1),
                "cost_total": str(row["cost"]),
            }
            for row in rows
        },
        "chat_prompt_tokens_by_turn": {
            str(row["seq"] // 2): round(row["prompt"], 1) for row in by_turn if row["answers"] >= 10
        },
        "message_chars_mean": {
            role: round(
                statistics.mean(len(c) for c in Message.objects.filter(role=role).values_list("content", flat=True))
            )
            for role in ("user", "assistant")
        },
    }


def time_tasks(org_id: str, conversation_ids: list[str]) -> dict[str, Any]:
    """Title and running summary, called as a worker calls them, with the fake model answering."""
    timed: dict[str, Any] = {}
    for name, call in (
        ("generate_title", lambda cid: tasks.generate_title(conversation_id=cid, org_id=org_id)),
        ("summarise", lambda cid: tasks.summarise(conversation_id=cid, org_id=org_id, through_seq=2 * TURNS)),
    ):
        Conversation.objects.filter(pk__in=conversation_ids).update(title="")
        sent, seconds = statement_counter.snapshot(), []
        for cid in conversation_ids:
            started = time.perf_counter()
            call(cid)
            seconds.append((time.perf_counter() - started) * 1000)
        statements = sum(
            count for key, count in (statement_counter.snapshot() - sent).items() if key.startswith("statement ")
        )
        timed[name] = {
            "tasks": len(seconds),
            "ms_p50": round(statistics.median(seconds), 1),
            "ms_max": round(max(seconds), 1),
            "statements_per_task": round(statements / len(seconds), 1),
        }
    return timed


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def run(args: argparse.Namespace) -> dict[str, Any]:
    ensure_database()
    conn, client = probes.connect(), probes.redis_client()
    statement_counter.install()
    keys_before = probes.redis_keys(client)
    model_port, counts = free_port(), Path(tempfile.mkstemp(prefix="capacity-statements-", suffix=".json")[1])
    model_url = f"http://127.0.0.1:{model_port}"
    model_env = fake_model_env(f"{model_url}/v1", context_window=128000, max_output=1024, **MODEL_PRICES)
    # This process seeds presets of the fake model and runs the timed tasks against it.
    settings.MODEL_CATALOGUE, settings.DEFAULT_MODEL = json.loads(model_env["MODEL_CATALOGUE"]), "fake"
    catalogue.catalogue.cache_clear()
    org, members = chat.seed(members=MEMBERS)
    results: dict[str, Any] = {"phases": {}}

    phase = Phase(conn, statement_counter.snapshot)
    results["phases"]["preset_edit"] = phase.end(chat.edit_presets(members=members, edits=args.edits))

    fake = start_fake_model(model_port, ttft=0.02)
    configure_fake_model(model_url, reply=chat.ANSWER, token_delay=0.0)
    env = {
        **model_env,
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
        "API_THROTTLE_USER_RATE": "1000000/min",
        "BACKGROUND_TASKS_INLINE": "false",  # titles on a background thread, as a worker would run them
    }
    server, base = spawn_counting_daphne(env, counts)
    served = lambda: statement_counter.read_stable(counts)  # noqa: E731
    try:
        phase = Phase(conn, served)
        created = asyncio.run(chat.create_conversations(base, members, args.conversations + PACED))
        results["phases"]["conversation_create"] = phase.end(len(created))
        chatted, paced = created[: args.conversations], created[args.conversations :]

        phase = Phase(conn, served)
        asyncio.run(chat.run_turns(base, chatted, turns=args.turns, concurrency=CONCURRENCY))
        results["titles_missing"] = wait_for_titles(str(org.pk), [cid for _, cid in chatted])
        results["phases"]["turn"] = phase.end(len(chatted) * args.turns)
        results["redis_after_turns"] = probes.key_report(client, probes.redis_keys(client) - keys_before)

        configure_fake_model(model_url, token_delay=0.02)
        keys_now = probes.redis_keys(client)
        results["redis_paced"] = asyncio.run(paced_phase(base, paced, client, keys_now))
    finally:
        stop(server)
    try:
        configure_fake_model(model_url, token_delay=0.0)
        timed_ids = [cid for _, cid in chatted[: args.timed_tasks]]
        results["tasks"] = time_tasks(str(org.pk), timed_ids)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    phase = Phase(conn, statement_counter.snapshot)
    usage.usage_rollup_day(day=usage.utc_today())
    results["phases"]["usage_rollup_per_member_day"] = phase.end(MEMBERS)
    results["usage"] = usage_per_call()
    tables = sorted(probes.table_counters(conn))
    results["bytes_per_row_as_written"] = probes.density(probes.table_sizes(conn, tables))
    probes.vacuum_full(conn, tables)
    results["bytes_per_row_live"] = probes.density(probes.table_sizes(conn, tables))
    return results


def report(results: dict[str, Any]) -> None:
    for name, phase in results["phases"].items():
        print(f"\n{name}: {phase['units']} in {phase['seconds']} s; statements per unit {phase['statements_per_unit']}")
        print(f"  preset-table reads per unit {phase['preset_table_reads_per_unit']}")
        for table, rows in phase["rows_per_unit"].items():
            print(f"  rows per unit {table:32} {rows}")
    print("\nbytes per row (live, after VACUUM FULL; as written before it):")
    for table, live in results["bytes_per_row_live"].items():
        written = results["bytes_per_row_as_written"].get(table, {})
        print(f"  {table:32} rows {live['rows']:>7}  total {live['total']:>6} B (heap {live['heap']}, "
              f"indexes {live['indexes']}, toast {live['toast']}); as written {written.get('total')} B")  # fmt: skip
    print("\nRedis keys after the turns (pattern: keys, bytes each, persistent, ttl max):")
    for name, group in results["redis_after_turns"].items():
        print(
            f"  {name:60} {group['keys']:>5} {group['bytes_mean']:>6} B  "
            f"{group['persistent']:>5}  {group['ttl_max_seconds']}"
        )
    for moment in ("in_flight", "after"):
        print(f"\nRedis keys of the paced phase, {moment} ({results['redis_paced']['streams']} streams):")
        for name, group in results["redis_paced"][moment].items():
            print(f"  {name:60} {group['keys']:>5} {group['bytes_mean']:>6} B  ttl max {group['ttl_max_seconds']}")
    print(f"\ntasks: {results['tasks']}")
    print(f"usage: {json.dumps(results['usage'], indent=1)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=CONVERSATIONS)
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--edits", type=int, default=EDITS)
    parser.add_argument("--timed-tasks", type=int, default=TIMED_TASKS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    results = run(args)
    results |= {
        "generated": started.strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "settings": {"members": MEMBERS, "concurrency": CONCURRENCY, **vars(args)},
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "answer_stream": {
            "batch_seconds": settings.ANSWER_STREAM_BATCH_SECONDS,
            "expiry_seconds": settings.ANSWER_STREAM_EXPIRY_SECONDS,
            "maxlen": settings.ANSWER_STREAM_MAXLEN,
        },
    }
    report(results)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"\nload average {results['load_average']}; written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
