"""Reads of replays and prompt sets, always from the organisation and the preset down, and the totals
a reviewer compares: each side's tokens, cost and times, and the candidate minus the baseline."""

from __future__ import annotations

from decimal import Decimal
from statistics import median
from typing import Any

from django.db.models import QuerySet

from conversations.replays.models import PromptSet, Replay, ReplayItem
from presets.models import Preset


def replays_of(*, preset: Preset) -> QuerySet[Replay]:
    return Replay.objects.for_org(preset.org).filter(preset=preset).select_related("started_by", "prompt_set")


def prompt_sets_of(*, preset: Preset) -> QuerySet[PromptSet]:
    return PromptSet.objects.for_org(preset.org).filter(preset=preset)


def item_difference(item: ReplayItem) -> dict[str, Any] | None:
    """Candidate minus baseline for one item both versions answered; None otherwise."""
    if not item.compared:
        return None
    return {
        "tokens": _tokens(item, "candidate") - _tokens(item, "baseline"),
        "cost": item.candidate_cost - item.baseline_cost,
        "ttft_ms": _minus(item.candidate_ttft_ms, item.baseline_ttft_ms),
        "total_ms": _minus(item.candidate_total_ms, item.baseline_total_ms),
    }


def replay_totals(items: list[ReplayItem]) -> dict[str, Any]:
    """Over the items both versions answered: each side's tokens, cost and median times, and the
    differences (candidate - baseline); counts of every item's status."""
    compared = [item for item in items if item.compared]
    sides = {side: _side_totals(compared, side) for side in ("baseline", "candidate")}
    base, cand = sides["baseline"], sides["candidate"]
    return {
        "items": len(items),
        "compared": len(compared),
        "skipped": sum(1 for item in items if item.status == "skipped"),
        "errors": sum(1 for item in items if item.baseline_error or item.candidate_error),
        **sides,
        "difference": {
            "tokens": cand["tokens"] - base["tokens"],
            "cost": cand["cost"] - base["cost"],
            "median_ttft_ms": _minus(cand["median_ttft_ms"], base["median_ttft_ms"]),
            "median_total_ms": _minus(cand["median_total_ms"], base["median_total_ms"]),
        },
    }


def _side_totals(items: list[ReplayItem], side: str) -> dict[str, Any]:
    return {
        "prompt_tokens": sum(getattr(item, f"{side}_prompt_tokens") for item in items),
        "completion_tokens": sum(getattr(item, f"{side}_completion_tokens") for item in items),
        "tokens": sum(_tokens(item, side) for item in items),
        "cost": sum((getattr(item, f"{side}_cost") for item in items), Decimal(0)),
        "median_ttft_ms": _median([getattr(item, f"{side}_ttft_ms") for item in items]),
        "median_total_ms": _median([getattr(item, f"{side}_total_ms") for item in items]),
    }


def _tokens(item: ReplayItem, side: str) -> int:
    return getattr(item, f"{side}_prompt_tokens") + getattr(item, f"{side}_completion_tokens")


def _median(values: list[int | None]) -> float | None:
    known = [value for value in values if value is not None]
    return median(known) if known else None


def _minus(candidate: float | None, baseline: float | None) -> float | None:
    return None if candidate is None or baseline is None else candidate - baseline
