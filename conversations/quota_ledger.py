"""Rebuilding lost quota counters from the usage ledger (UsageRecord).

The quota store keeps its counters in Redis; a restart without persistence (or a FLUSHDB) loses
them while the ledger keeps every call. The store cannot read the ledger (it sits in a lower app),
so it hands the limits whose counters are missing to `ledger_usage` (registered with
`tenancy.metering.ledger` when this app is ready), seeds them with what the ledger says, and only
then counts the call. The sums follow what `guardrails.settle` charges: a
chat answer that produced no text is not charged, so its ledger row is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import F, Q, QuerySet, Sum

from conversations.models import UsageKind, UsageRecord
from tenancy.metering.quota_types import LedgerScope, QuotaLimit
from tenancy.metering.rules import micros
from tenancy.models import TeamMembership


def ledger_usage(limits: Sequence[QuotaLimit]) -> list[int]:
    """What each limit's subject used in its period by the ledger (tokens, or cost in micro-units)."""
    return [_used(limit) if limit.ledger is not None else 0 for limit in limits]


def _used(limit: QuotaLimit) -> int:
    scope = limit.ledger
    assert scope is not None
    rows = _rows(scope).filter(created_at__gte=scope.period_start, created_at__lt=limit.reset_at)
    rows = rows.exclude(kind=UsageKind.CHAT, completion_tokens=0)
    if scope.unit == "cost":
        return micros(rows.aggregate(total=Sum("cost"))["total"] or 0)
    return int(rows.aggregate(total=Sum(F("prompt_tokens") + F("completion_tokens")))["total"] or 0)


def _rows(scope: LedgerScope) -> QuerySet[UsageRecord]:
    rows = UsageRecord.objects.all()
    if scope.org_id is not None:
        rows = rows.filter(org_id=scope.org_id)
    if scope.preset_id is not None:
        rows = rows.filter(preset_id=scope.preset_id)
    if scope.api_key_id is not None:
        rows = rows.filter(api_key_id=scope.api_key_id)
    # Summaries and titles carry no user: they count against the conversation's owner.
    if scope.user_id is not None:
        rows = rows.filter(Q(user_id=scope.user_id) | Q(user__isnull=True, conversation__user_id=scope.user_id))
    if scope.team_id is not None:
        members = TeamMembership.objects.filter(team_id=scope.team_id).values("user_id")
        rows = rows.filter(Q(user_id__in=members) | Q(user__isnull=True, conversation__user_id__in=members))
    return rows
