"""Feedback analytics per preset version: how each version's answers were received, per UTC day.

Counted from the answers (assistant messages) the preset gave in the caller's organisation, as of
the turn (`Message.preset`, `Message.preset_version`), plus the thumbs on them, and from the
`/v1/chat/completions` calls made with the preset (usage records: no conversation, no thumbs; their
count is `api_turns`):

- conversations: distinct conversations with at least one answer; turns: finished answers
  (complete, cancelled, interrupted or failed; unfinished ones are not counted yet);
- thumbs-up rate: up votes / (up + down votes); no votes gives null, not zero;
- regenerate rate and edit rate: answers asked for by "regenerate" or by editing the question,
  over turns (`Message.turn_kind`);
- tokens and cost per turn: (prompt + completion) tokens and cost over turns;
- time to first token: the median `ttft_ms` of the answers that have one;
- error rate: failed or interrupted answers over turns.

One SQL statement reads the indexes `message_preset_answers` and `usage_preset_api_calls` (preset,
created_at; covering every column read here) and the votes cast since the period began
(`feedback_org_recent`), so the cost follows the preset's answers in the period, never the table;
the period is bounded to MAX_RANGE_DAYS. Messages are not rolled up: a vote can change long after
the answer, and a roll-up would have to be recomputed for every day a vote touches. The embedded
SQLite run groups the same rows in Python (`portable_rows`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from statistics import median
from typing import Any

from django.db import connection, transaction

from chatpresets.errors import InvalidInput
from conversations.models import Feedback, Message, UsageKind, UsageRecord
from conversations.usage import COST_PLACES, MAX_RANGE_DAYS, UsageWindow, midnight, utc_today
from presets.models import Preset
from tenancy.models import Organization

DEFAULT_PERIOD_DAYS = 30
FINISHED = ("complete", "cancelled", "interrupted", "failed")
ERRORS = ("failed", "interrupted")

# GROUPING SETS gives the per-day rows, each version's totals and the grand total in one pass:
# distinct conversations are not additive over days, so totals cannot be summed from the days.
REPORT_SQL = """
SELECT a.preset_version, a.day, GROUPING(a.preset_version), GROUPING(a.day),
       count(DISTINCT a.conversation_id), count(*),
       coalesce(sum(v.up), 0), coalesce(sum(v.down), 0),
       count(*) FILTER (WHERE a.turn_kind = 'regenerate'), count(*) FILTER (WHERE a.turn_kind = 'edit'),
       count(*) FILTER (WHERE a.status = ANY(%(errors)s)), count(*) FILTER (WHERE a.turn_kind = 'api'),
       coalesce(sum(a.prompt_tokens), 0), coalesce(sum(a.completion_tokens), 0), coalesce(sum(a.cost), 0),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.ttft_ms)
FROM (
    SELECT id, conversation_id, preset_version, status, turn_kind, prompt_tokens, completion_tokens, cost,
           ttft_ms, (created_at AT TIME ZONE 'UTC')::date AS day
    FROM conversations_message
    WHERE preset_id = %(preset)s AND role = 'assistant' AND org_id = %(org)s
      AND created_at >= %(start)s AND created_at < %(end)s AND status = ANY(%(finished)s)
    UNION ALL
    SELECT NULL::uuid, NULL::uuid, preset_version, status, 'api', prompt_tokens, completion_tokens, cost,
           ttft_ms, (created_at AT TIME ZONE 'UTC')::date
    FROM conversations_usagerecord
    WHERE preset_id = %(preset)s AND kind = 'completion_api' AND org_id = %(org)s
      AND created_at >= %(start)s AND created_at < %(end)s AND status = ANY(%(finished)s)
) AS a
LEFT JOIN (
    SELECT message_id, count(*) FILTER (WHERE vote = 'up') AS up, count(*) FILTER (WHERE vote = 'down') AS down
    FROM conversations_feedback WHERE org_id = %(org)s AND created_at >= %(start)s GROUP BY message_id
) AS v ON v.message_id = a.id
GROUP BY GROUPING SETS ((a.preset_version, a.day), (a.preset_version), ())
"""
# A year of a busy preset is ~10^6 rows to sort (grouping sets with distinct counts and a median):
# in memory rather than on disk, and without JIT compilation, which costs more than it saves here.
REPORT_SETTINGS = ("SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off")
COUNTS = ("conversations", "turns", "thumbs_up", "thumbs_down", "regenerated", "edited", "errors", "api_turns")
SUMS = ("prompt_tokens", "completion_tokens", "cost")


class InvalidPeriod(InvalidInput):
    code = "invalid_date_range"
    message = f"`since` must not be after `until`, and a period covers at most {MAX_RANGE_DAYS} days."


@dataclass(frozen=True)
class Row:
    """One line of the report: a version's day, a version's total (day None) or the grand total."""

    version: int | None
    day: date | None
    scope: str  # "day", "version" or "all"
    metrics: dict[str, Any]


def analytics_period(*, since: date | None, until: date | None) -> UsageWindow:
    """Default: the last 30 UTC days up to today; refuse a reversed period or one over 366 days."""
    until = until or utc_today()
    since = since or until - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if since > until or (until - since).days + 1 > MAX_RANGE_DAYS:
        raise InvalidPeriod(
            details={"since": since.isoformat(), "until": until.isoformat(), "max_days": MAX_RANGE_DAYS}
        )
    return UsageWindow(since, until)


def preset_analytics(*, preset: Preset, org_id: Any, period: UsageWindow) -> dict[str, Any]:
    """The report of `preset`'s answers in organisation `org_id` over `period`: totals, then per version
    its totals and one entry per day that had answers (newest version first, days in order)."""
    rows = _report_rows(preset_id=preset.pk, org_id=org_id, period=period)
    versions: dict[int | None, dict[str, Any]] = {}
    totals = _metrics(dict.fromkeys((*COUNTS, *SUMS), 0) | {"ttft_ms_p50": None})
    for row in rows:
        if row.scope == "all":
            totals = row.metrics
            continue
        entry = versions.setdefault(row.version, {"version": row.version, "totals": None, "days": []})
        if row.scope == "version":
            entry["totals"] = row.metrics
        else:
            entry["days"].append({"day": row.day.isoformat(), **row.metrics})
    for entry in versions.values():
        entry["days"].sort(key=lambda item: item["day"])
    ordered = sorted(versions.values(), key=lambda entry: -1 if entry["version"] is None else entry["version"])
    return {
        "since": period.start.isoformat(),
        "until": period.end.isoformat(),
        "bucket": "day",
        "totals": totals,
        "versions": ordered[::-1],
    }


def report_params(*, preset_id: Any, org_id: Any, period: UsageWindow) -> dict[str, Any]:
    return {
        "preset": preset_id,
        "org": org_id,
        "start": midnight(period.start),
        "end": midnight(period.end + timedelta(days=1)),
        "finished": list(FINISHED),
        "errors": list(ERRORS),
    }


def _report_rows(*, preset_id: Any, org_id: Any, period: UsageWindow) -> list[Row]:
    params = report_params(preset_id=preset_id, org_id=org_id, period=period)
    if connection.vendor != "postgresql":
        return portable_rows(params)
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in REPORT_SETTINGS:
            cursor.execute(setting)
        cursor.execute(REPORT_SQL, params)
        fetched = cursor.fetchall()
    return [_row(values) for values in fetched]


def portable_rows(params: dict[str, Any]) -> list[Row]:
    """REPORT_SQL's rows, grouped in Python: the embedded SQLite run has neither GROUPING SETS nor
    percentile_cont, and its one local database is small."""
    org = Organization(pk=params["org"])
    window = {
        "preset_id": params["preset"],
        "created_at__gte": params["start"],
        "created_at__lt": params["end"],
        "status__in": params["finished"],
    }
    columns = ("preset_version", "status", "prompt_tokens", "completion_tokens", "cost", "ttft_ms", "created_at")
    answers = Message.objects.for_org(org).filter(role="assistant", **window)
    rows = list(answers.values("id", "conversation_id", "turn_kind", *columns))
    calls = UsageRecord.objects.for_org(org).filter(kind=UsageKind.COMPLETION_API, **window).values(*columns)
    rows += [{**call, "id": None, "conversation_id": None, "turn_kind": "api"} for call in calls]
    votes = Feedback.objects.for_org(org).filter(created_at__gte=params["start"], message__in=answers.values("id"))
    tally = Counter((vote.message_id, vote.vote) for vote in votes.only("message_id", "vote"))
    groups: dict[tuple[Any, Any, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        version, day = row["preset_version"], row["created_at"].astimezone(UTC).date()
        for key in ((version, day, "day"), (version, None, "version"), (None, None, "all")):
            groups[key].append(row)
    return [
        Row(version=version, day=day, scope=scope, metrics=_metrics(_figures(members, tally, params["errors"])))
        for (version, day, scope), members in groups.items()
    ]


def _figures(rows: list[dict[str, Any]], tally: Counter, errors: list[str]) -> dict[str, Any]:
    times = [row["ttft_ms"] for row in rows if row["ttft_ms"] is not None]
    return {
        "conversations": len({row["conversation_id"] for row in rows} - {None}),
        "turns": len(rows),
        "thumbs_up": sum(tally[(row["id"], "up")] for row in rows),
        "thumbs_down": sum(tally[(row["id"], "down")] for row in rows),
        "regenerated": sum(row["turn_kind"] == "regenerate" for row in rows),
        "edited": sum(row["turn_kind"] == "edit" for row in rows),
        "errors": sum(row["status"] in errors for row in rows),
        "api_turns": sum(row["turn_kind"] == "api" for row in rows),
        "prompt_tokens": sum(row["prompt_tokens"] for row in rows),
        "completion_tokens": sum(row["completion_tokens"] for row in rows),
        "cost": sum((row["cost"] for row in rows), Decimal(0)),
        "ttft_ms_p50": median(times) if times else None,
    }


def _row(values: tuple[Any, ...]) -> Row:
    version, day, all_versions, all_days, *figures = values
    scope = "all" if all_versions else ("version" if all_days else "day")
    named = dict(zip((*COUNTS, *SUMS, "ttft_ms_p50"), figures, strict=True))
    return Row(version=version, day=day, scope=scope, metrics=_metrics(named))


def _metrics(named: dict[str, Any]) -> dict[str, Any]:
    """Counts and sums as stored, and the rates derived from them (null where nothing was counted)."""
    counts = {name: int(named[name]) for name in (*COUNTS, "prompt_tokens", "completion_tokens")}
    turns, votes = counts["turns"], counts["thumbs_up"] + counts["thumbs_down"]
    cost = Decimal(named["cost"]).quantize(COST_PLACES)
    tokens = counts["prompt_tokens"] + counts["completion_tokens"]
    ttft = named["ttft_ms_p50"]
    return {
        **counts,
        "cost": format(cost, "f"),
        "thumbs_up_rate": _ratio(counts["thumbs_up"], votes),
        "regenerate_rate": _ratio(counts["regenerated"], turns),
        "edit_rate": _ratio(counts["edited"], turns),
        "error_rate": _ratio(counts["errors"], turns),
        "tokens_per_turn": round(tokens / turns, 2) if turns else None,
        "cost_per_turn": format((cost / turns).quantize(COST_PLACES), "f") if turns else None,
        "ttft_ms_p50": None if ttft is None else round(float(ttft), 1),
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
