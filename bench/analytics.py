"""Benchmark: the per-version feedback analytics query over 10 million messages.

Run from the project root (the first run seeds for several minutes; later runs reuse the data):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench_analytics \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/analytics.py

Options: `--conversations N` (default 500,000 of 20 messages each: 10 million messages),
`--repeat N` (timed runs per case, default 5).

The data is written by SQL (generate_series), not the ORM: 500,000 conversations over 400 days in
two organisations, 12 presets with three versions each, one "busy" preset holding a fifth of all
conversations, one answer in 20 regenerated, one in 33 edited, one in 50 failed, and a thumb on one
answer in 20. Foreign-key triggers are off while seeding (session_replication_role = replica): the
rows are consistent by construction and checking 10 million of them would triple the seeding time.
It then times `conversations.analytics.preset_analytics` (the API's whole read) for 30 and 366 days
on the busy preset and on an ordinary one, and prints EXPLAIN (ANALYZE, BUFFERS) of the slowest.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from chatpresets.llm.catalogue import default_model  # noqa: E402
from conversations import analytics  # noqa: E402
from conversations.models import Message  # noqa: E402
from conversations.usage import midnight, utc_today  # noqa: E402
from presets.models import Preset  # noqa: E402
from tenancy.models import Organization, User  # noqa: E402

MESSAGES_PER_CONVERSATION = 20
PRESETS = 12
BATCH = 25_000  # conversations per INSERT: 500,000 messages

CONVERSATIONS_SQL = """
INSERT INTO conversations_conversation (id, org_id, user_id, title, preset_id, preset_version, preset_via,
    variables, model_override, params_override, summary, pii_vault, summary_through_seq, summary_tokens,
    created_at, updated_at)
SELECT lpad(to_hex(i), 32, '0')::uuid, CASE WHEN i %% 10 = 9 THEN %(other)s ELSE %(org)s END::uuid, %(user)s,
    '', CASE WHEN i %% 5 = 0 THEN (%(presets)s::uuid[])[1] ELSE (%(presets)s::uuid[])[2 + i %% 11] END,
    1 + i %% 3, '', '{}', '', '{}', '', '{}', 0, 0, started, started
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i,
     LATERAL (SELECT %(today)s::timestamptz - make_interval(days => ((i * 7919) %% 400)::int, secs => i %% 86400)
              AS started) AS t
"""

MESSAGES_SQL = """
INSERT INTO conversations_message (id, org_id, conversation_id, seq, role, content, token_count, status,
    error_code, model, preset_id, preset_version, turn_kind, prompt_tokens, completion_tokens, cost, ttft_ms,
    total_ms, finish_reason, client_id, request_hash, reply_to_id, superseded, pii, holds, created_at, updated_at)
SELECT lpad(to_hex(c.n * 20 + s), 32, '0')::uuid, c.org_id, c.id, s,
    CASE WHEN s %% 2 = 1 THEN 'user' ELSE 'assistant' END, '', 40,
    CASE WHEN s %% 2 = 0 AND (c.n + s) %% 50 = 0 THEN 'failed' ELSE 'complete' END, '', %(model)s,
    c.preset_id, c.preset_version,
    CASE WHEN s %% 2 = 1 THEN '' WHEN (c.n * 7 + s) %% 20 = 0 THEN 'regenerate'
         WHEN (c.n * 3 + s) %% 33 = 0 THEN 'edit' ELSE 'new' END,
    CASE WHEN s %% 2 = 0 THEN 300 + s * 40 ELSE 0 END, CASE WHEN s %% 2 = 0 THEN 50 + (c.n + s) %% 400 ELSE 0 END,
    CASE WHEN s %% 2 = 0 THEN 0.0001 * (1 + (c.n + s) %% 7) ELSE 0 END,
    CASE WHEN s %% 2 = 0 THEN 150 + (c.n * 13 + s) %% 900 END, CASE WHEN s %% 2 = 0 THEN 2000 END,
    '', '', '', CASE WHEN s %% 2 = 0 THEN lpad(to_hex(c.n * 20 + s - 1), 32, '0')::uuid END, false, '{}', '{}',
    c.created_at + make_interval(mins => s), c.created_at + make_interval(mins => s)
FROM (SELECT ('x' || right(replace(id::text, '-', ''), 16))::bit(64)::bigint AS n, id, org_id, preset_id,
             preset_version, created_at
      FROM conversations_conversation WHERE id BETWEEN lpad(to_hex(%(first)s), 32, '0')::uuid
                                               AND lpad(to_hex(%(last)s), 32, '0')::uuid) AS c,
     generate_series(1, 20) AS s
"""

FEEDBACK_SQL = """
INSERT INTO conversations_feedback (org_id, message_id, user_id, vote, reason, created_at, updated_at)
SELECT org_id, id, %(user)s, CASE WHEN (seq + preset_version) %% 4 = 0 THEN 'down' ELSE 'up' END, '', created_at,
    created_at
FROM conversations_message WHERE role = 'assistant' AND (seq * 7 + token_count + ttft_ms) %% 20 = 0
"""


def seed(conversations: int) -> dict[str, Any]:
    """The organisations, user and presets (ORM), then conversations, messages and thumbs (SQL)."""
    org, _ = Organization.objects.get_or_create(slug="analytics-bench", defaults={"name": "Analytics bench"})
    other, _ = Organization.objects.get_or_create(slug="analytics-other", defaults={"name": "Other"})
    user, _ = User.objects.get_or_create(username="analytics-bench")
    presets = [_preset(org, user, n) for n in range(PRESETS)]
    context = {"org": org, "user": user, "busy": presets[0], "ordinary": presets[1]}
    if Message.objects.count() >= conversations * MESSAGES_PER_CONVERSATION:
        return context
    params = {
        "org": str(org.pk),
        "other": str(other.pk),
        "user": user.pk,
        "presets": [str(p.pk) for p in presets],
        "model": default_model(),
        "today": midnight(utc_today()),
    }
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE conversations_feedback, conversations_message, conversations_conversation CASCADE")
        cursor.execute("SET session_replication_role = replica")
        for first in range(0, conversations, BATCH):
            started = time.perf_counter()
            batch = {**params, "first": first, "last": min(first + BATCH, conversations) - 1}
            cursor.execute(CONVERSATIONS_SQL, batch)
            cursor.execute(MESSAGES_SQL, batch)
            print(f"  conversations {first + BATCH:>9,}  ({time.perf_counter() - started:.1f} s)", flush=True)
        cursor.execute(FEEDBACK_SQL, {"user": user.pk})
        cursor.execute("SET session_replication_role = DEFAULT")
        # Index-only scans need the visibility map, which VACUUM writes; ANALYZE gives the planner counts.
        cursor.execute("VACUUM ANALYZE conversations_message")
        cursor.execute("VACUUM ANALYZE conversations_feedback")
        cursor.execute("VACUUM ANALYZE conversations_conversation")
    return context


def _preset(org: Organization, user: User, n: int) -> Preset:
    preset, _ = Preset.objects.get_or_create(
        org=org,
        slug=f"bench-{n}",
        defaults={"owner": user, "name": f"Bench {n}", "system_prompt": "You help.", "model": default_model()},
    )
    return preset


def time_case(*, preset: Preset, org: Organization, days: int, repeat: int) -> tuple[float, int]:
    until = utc_today()
    period = analytics.analytics_period(since=until - timedelta(days=days - 1), until=until)
    timings, report = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        report = analytics.preset_analytics(preset=preset, org_id=org.pk, period=period)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), report["totals"]["turns"]


def explain(*, preset: Preset, org: Organization, days: int) -> str:
    until = utc_today()
    period = analytics.analytics_period(since=until - timedelta(days=days - 1), until=until)
    params = analytics.report_params(preset_id=preset.pk, org_id=org.pk, period=period)
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in analytics.REPORT_SETTINGS:
            cursor.execute(setting)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + analytics.REPORT_SQL, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ensure_database()
    started = time.perf_counter()
    context = seed(args.conversations)
    print(f"seeded in {time.perf_counter() - started:.0f} s; messages: {Message.objects.count():,}")
    for name in ("busy", "ordinary"):
        for days in (30, 366):
            median_ms, turns = time_case(preset=context[name], org=context["org"], days=days, repeat=args.repeat)
            print(f"{name:>9} preset, {days:>3} days: {turns:>9,} answers, median {median_ms:8.1f} ms")
    print(explain(preset=context["busy"], org=context["org"], days=366))


if __name__ == "__main__":
    main()
