"""The run's numbers as one JSON-ready dict: per-arm percentiles, the added time over D, the ratios."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.side_by_side.arms import Samples
from bench.side_by_side.openloop import Step, passes, sustainable
from bench.side_by_side.stats import percentile

NEAR_CEILING = 0.9  # an arm this close to the fake model's own ceiling measured the fake, not itself


def ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


def phase_one(samples: dict[str, Samples]) -> dict[str, Any]:
    direct = samples["D"]
    d50, d99 = percentile(direct.ttft_ms, 0.5), percentile(direct.ttft_ms, 0.99)
    gap99 = percentile(direct.gaps_ms, 0.99)
    arms: dict[str, Any] = {}
    for name, arm in samples.items():
        p50, p99 = percentile(arm.ttft_ms, 0.5), percentile(arm.ttft_ms, 0.99)
        arms[name] = {
            "ttft_p50_ms": ms(p50),
            "ttft_p99_ms": ms(p99),
            "gap_p50_ms": ms(percentile(arm.gaps_ms, 0.5)),
            "gap_p99_ms": ms(percentile(arm.gaps_ms, 0.99)),
            "added_ttft_p50_ms": ms(p50 - d50),
            "added_ttft_p99_ms": ms(p99 - d99),
            "added_gap_p99_ms": ms(percentile(arm.gaps_ms, 0.99) - gap99),
            "chunks_median": round(statistics.median(arm.chunks)),
            "requests": len(arm.ttft_ms),
        }
    added = {name: (arms[name]["added_ttft_p50_ms"], arms[name]["added_ttft_p99_ms"]) for name in arms}
    ratios = {
        "O_minus_D_over_L_minus_D_p50": ratio(added["O"][0], added["L"][0]),
        "O_minus_D_over_L_minus_D_p99": ratio(added["O"][1], added["L"][1]),
        "W_minus_D_over_L_minus_D_p50": ratio(added["W"][0], added["L"][0]),
        "W_minus_D_over_L_minus_D_p99": ratio(added["W"][1], added["L"][1]),
        "O_over_O_plain_ttft_p50": ratio(arms["O"]["ttft_p50_ms"], arms["O'"]["ttft_p50_ms"]),
        "O_minus_D_over_O_plain_minus_D_p50": ratio(added["O"][0], added["O'"][0]),
    }
    return {"arms": arms, "ratios": ratios}


def phase_two(steps: list[Step], *, baseline_ms: float, threshold_ms: float, ceiling_rps: float) -> dict[str, Any]:
    rows = [
        {
            "arm": step.arm,
            "offered_rps": step.rate,
            "sent": step.sent,
            "answered": len(step.ttft_ms),
            "answered_rps": round(len(step.ttft_ms) / step.elapsed, 2) if step.elapsed else 0.0,
            "errors": dict(step.errors),
            "ttft_p50_ms": ms(step.p(0.5)),
            "ttft_p99_ms": ms(step.p(0.99)),
            "added_p99_ms": ms(step.p(0.99) - baseline_ms),
            "passed": passes(step, baseline_ms, threshold_ms),
        }
        for step in steps
    ]
    arms = sorted({step.arm for step in steps})
    rates = {arm: sustainable(steps, arm, baseline_ms, threshold_ms) for arm in arms}
    fastest = {arm: max(r["answered_rps"] for r in rows if r["arm"] == arm) for arm in arms}
    near = [arm for arm in arms if fastest[arm] >= NEAR_CEILING * ceiling_rps]
    return {
        "baseline_ms": ms(baseline_ms),
        "threshold_ms": threshold_ms,
        "steps": rows,
        "sustainable_rps": rates,
        "O_over_L": ratio(rates.get("O", 0), rates.get("L", 0)),
        "near_fake_model_ceiling": near,
    }
