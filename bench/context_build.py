"""Benchmark: building the prompt for a 10,000-message conversation costs about what it costs for 10.

Run from the project root:

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/context_build.py

It creates and migrates its own database, seeds two conversations (10 and 10,000 stored messages,
token counts stored per message as the service writes them), then times the full context
preview (conversation lookup, preset resolution, keyset reads of the newest messages, planning)
for each, in the same run, and prints p50/p95, queries per build and the ratio. Exits 1 when the
10,000-message build is more than 1.5x the 10-message one at p50.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault(
    "MODEL_CATALOGUE",
    '[{"name": "bench", "base_url": "http://127.0.0.1:9/v1", "encoding": "o200k_base", "context_window": 8192,'
    ' "max_output": 1024}]',
)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from chatpresets.llm.tokens import count_message  # noqa: E402
from conversations import services  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from tenancy.models import Membership, Organization, Role, User  # noqa: E402

RUNS = 300
MAX_RATIO = 1.5
SHORT = "A typical chat message of a couple of sentences, asking or answering something useful. " * 2
LONG = SHORT * 40  # about 700 tokens: an 8k window holds about ten of these
# (label, stored messages, text): each pair differs only in history length, not in what fits.
CASES = [
    [("10 long messages", 10, LONG), ("10,000 long messages", 10_000, LONG)],
    [("300 short messages", 300, SHORT), ("10,000 short messages", 10_000, SHORT)],
]


def seed(size: int, text: str, membership: Membership) -> Conversation:
    title = f"bench-{size}-{len(text)}"
    conversation = Conversation.objects.filter(org=membership.org, title=title).first()
    if conversation is not None and conversation.messages.count() == size:
        return conversation
    Conversation.objects.filter(org=membership.org, title=title).delete()
    conversation = Conversation.objects.create(
        org=membership.org, user=membership.user, title=title, model_override="bench"
    )
    tokens = count_message("user", text, "o200k_base")
    rows = [
        Message(
            org=membership.org,
            conversation=conversation,
            seq=seq,
            role="user" if seq % 2 else "assistant",
            content=f"{seq}: {text}",
            token_count=tokens,
        )
        for seq in range(1, size + 1)
    ]
    Message.objects.bulk_create(rows, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")  # as autovacuum would after a bulk load
    return conversation


def measure(conversation: Conversation, membership: Membership) -> tuple[list[float], int, int]:
    for _ in range(20):
        services.context_preview(conversation=conversation, membership=membership)
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        services.context_preview(conversation=conversation, membership=membership)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        preview = services.context_preview(conversation=conversation, membership=membership)
    kept = sum(1 for part in preview["parts"] if part["kind"] == "history")
    return timings, len(queries), kept


def main() -> int:
    ensure_database()
    org, _ = Organization.objects.get_or_create(slug="context-bench", defaults={"name": "Context bench"})
    user, _ = User.objects.get_or_create(username="context-bench")
    membership, _ = Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    worst = 0.0
    for pair in CASES:
        medians = []
        for label, size, text in pair:
            timings, queries, kept = measure(seed(size, text, membership), membership)
            p50, p95 = statistics.median(timings), statistics.quantiles(timings, n=20)[18]
            medians.append(p50)
            print(f"{label:>22}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  queries {queries}  in prompt {kept}")
        ratio = medians[1] / medians[0]
        worst = max(worst, ratio)
        print(f"{'ratio p50':>22}: {ratio:.2f}  (limit {MAX_RATIO})")
    return 0 if worst <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
