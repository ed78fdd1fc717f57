"""The topology bench's arithmetic: a step's row, the sustainable rate, the targets and the scaling.

Added time to first token is a request's TTFT minus the p50 TTFT of the fake model alone, measured
one request at a time in the same topology's run, through the same client.
"""

from __future__ import annotations

import math
from typing import Any

from bench.side_by_side.stats import percentile
from bench.topology_parts.load import Step

ANSWERED_SHARE = 0.98  # a sustainable step answers at least this share of what it was offered
ADDED_P99_LIMIT_MS = 1000.0  # … with its p99 added TTFT under this
TTFT_BOUND_FACTOR = 3.0  # target 2: p99 added TTFT under load at most 3x its concurrency-1 value
REFUSAL_LIMIT_MS = 100.0  # target 2: the excess refused within this, at p99
BELOW_FACTOR, ABOVE_FACTOR = 0.8, 2.0  # the two dedicated steps, as multiples of the sustainable rate


def ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)


def concurrency_one(alone: Step, through: Step) -> dict[str, Any]:
    d50 = percentile(alone.ttft_ms, 0.5)
    r50, r99 = percentile(through.ttft_ms, 0.5), percentile(through.ttft_ms, 0.99)
    return {
        "requests": len(through.ttft_ms),
        "errors": dict(alone.errors + through.errors),
        "direct_ttft_p50_ms": ms(d50),
        "direct_ttft_p99_ms": ms(percentile(alone.ttft_ms, 0.99)),
        "ttft_p50_ms": ms(r50),
        "ttft_p99_ms": ms(r99),
        "added_p50_ms": ms(r50 - d50),
        "added_p99_ms": ms(r99 - d50),
    }


def row(step: Step, *, baseline_ms: float) -> dict[str, Any]:
    """One step as the JSON and the table show it."""
    answered = len(step.ttft_ms)
    return {
        "offered_rps": step.rate,
        "seconds": step.seconds,
        "sent": step.sent,
        "answered": answered,
        # Over the whole step, drain included: an overloaded step's late answers do not inflate it.
        "answered_rps": round(answered / max(step.elapsed, step.seconds), 1),
        "refused": len(step.refusal_ms),
        "refusal_codes": dict(step.refusal_codes),
        "errors": dict(step.errors),
        "added_p50_ms": ms(percentile(step.ttft_ms, 0.5) - baseline_ms),
        "added_p99_ms": ms(percentile(step.ttft_ms, 0.99) - baseline_ms),
        "refusal_p50_ms": ms(percentile(step.refusal_ms, 0.5)),
        "refusal_p99_ms": ms(percentile(step.refusal_ms, 0.99)),
    }


def holds(step: dict[str, Any]) -> bool:
    """Sustainable: nothing refused or failed, at least 98% answered, p99 added TTFT under 1 s."""
    p99 = step["added_p99_ms"]
    return (
        not step["refused"]
        and not step["errors"]
        and step["answered"] >= ANSWERED_SHARE * step["sent"]
        and p99 is not None
        and p99 < ADDED_P99_LIMIT_MS
    )


def sustainable(steps: list[dict[str, Any]]) -> float:
    """The highest offered rate that held with every lower rate holding too (0: not even the first)."""
    best = 0.0
    for step in sorted(steps, key=lambda s: s["offered_rps"]):
        if not holds(step):
            break
        best = step["offered_rps"]
    return best


def should_stop(steps: list[dict[str, Any]], past_knee: int) -> bool:
    """The step-up ends once `past_knee` steps have failed to hold."""
    return sum(not holds(step) for step in steps) >= past_knee


def within(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def targets(c1_added_p99_ms: float, below: dict[str, Any] | None, above: list[dict[str, Any]]) -> dict[str, Any]:
    """Target 2 at 80% and at 2x of the sustainable rate (None where a step could not run or measure).

    The 2x step runs more than once: on two shared cores its p99 moves between runs of the same code by
    more than the margin, so each repeat is judged, and the target holds only if every repeat meets it.
    """
    bound = round(TTFT_BOUND_FACTOR * c1_added_p99_ms, 1)
    each = [within(step["added_p99_ms"], bound) for step in above]
    refusals = [within(step["refusal_p99_ms"], REFUSAL_LIMIT_MS) for step in above]
    return {
        "ttft_bound_ms": bound,
        "below_ttft_within_bound": within(below and below["added_p99_ms"], bound),
        "above_refused_any": all(step["refused"] > 0 for step in above) if above else None,
        "above_refusal_within_limit": every(refusals),
        "above_ttft_within_bound": every(each),
        "above_ttft_met": each,
        "above_other_errors": sum(sum(step["errors"].values()) for step in above) if above else None,
    }


def every(verdicts: list[bool | None]) -> bool | None:
    """True if every verdict is, False if any is not, None with none or an unmeasured one and no False."""
    if False in verdicts:
        return False
    return None if not verdicts or None in verdicts else True


def scaling(sustainable_rps: dict[int, float], peak_rps: dict[int, float]) -> dict[str, Any]:
    """Each topology's sustainable rate and peak answers/s over one process's, and the per-process rate."""

    def over_one(values: dict[int, float]) -> dict[str, float | None]:
        one = values.get(1) or 0
        return {str(n): (round(value / one, 2) if one else None) for n, value in values.items()}

    return {
        "sustainable_over_one": over_one(sustainable_rps),
        "peak_answered_over_one": over_one(peak_rps),
        "sustainable_per_process": {str(n): round(rate / n, 1) for n, rate in sustainable_rps.items()},
    }
