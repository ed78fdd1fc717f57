"""The arithmetic and the report of bench/observability_overhead.py, free of servers and Django.

Arms are interleaved round by round, so the n-th sample of one arm and the n-th of another were
taken moments apart: their difference cancels the machine's drift. The cost of a switch is the
median of those paired differences, with a bootstrap interval, next to the plain p50 and p95.
"""

from __future__ import annotations

import random
import statistics
from typing import Any

from bench.side_by_side.report import cell, ratio_cell
from bench.side_by_side.stats import percentile
from bench.side_by_side.summary import ratio

START, END = "<!-- observability-overhead:start -->", "<!-- observability-overhead:end -->"
DIRECT = "D"
# (baseline, with the switch on): each pair is one cost the report states.
# The control process runs with the same switches as `off`: its difference from `off` is what two
# identical processes differ by on this machine, the floor under which no switch's cost can be seen.
COMPARISONS = (
    ("v1 off", "v1 control"),
    ("ws off", "ws control"),
    ("v1 off", "v1 metrics"),
    ("v1 off", "v1 metrics+traces"),
    ("ws off", "ws metrics"),
    ("ws off", "ws metrics+traces"),
)
ARMS = {
    DIRECT: "`openai` client straight to the fake model",
    "v1 off": "`/v1/chat/completions` (`preset:`), METRICS_ENABLED=false, no tracing",
    "v1 control": "the same on a second process with the same switches (control)",
    "v1 metrics": "the same, METRICS_ENABLED=true",
    "v1 metrics+traces": "the same, metrics and OTLP traces to a local sink",
    "ws off": "websocket turn (`send` → first `delta`), METRICS_ENABLED=false, no tracing",
    "ws control": "the same on a second process with the same switches (control)",
    "ws metrics": "the same, METRICS_ENABLED=true",
    "ws metrics+traces": "the same, metrics and OTLP traces to a local sink",
}


def paired_differences(baseline: list[float], other: list[float]) -> list[float]:
    """other[i] - baseline[i] for the rounds both arms have: what the switch added in each round."""
    return [b - a for a, b in zip(baseline, other, strict=False)]


def bootstrap_median_interval(
    values: list[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 13
) -> tuple[float, float]:
    """A percentile-bootstrap interval of the median; a fixed seed keeps a report reproducible."""
    if len(values) < 2:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    tail = (1 - confidence) / 2
    return medians[int(tail * resamples)], medians[min(resamples - 1, int((1 - tail) * resamples))]


def rounded(value: float) -> float | None:
    return None if value != value else round(value, 3)  # NaN (no samples) becomes null in the JSON


def arm_summary(ttft_ms: list[float], direct_ms: list[float]) -> dict[str, Any]:
    return {
        "requests": len(ttft_ms),
        "ttft_p50_ms": rounded(percentile(ttft_ms, 0.5)),
        "ttft_p95_ms": rounded(percentile(ttft_ms, 0.95)),
        "ttft_p99_ms": rounded(percentile(ttft_ms, 0.99)),
        "added_p50_ms": rounded(percentile(ttft_ms, 0.5) - percentile(direct_ms, 0.5)),
        "added_p95_ms": rounded(percentile(ttft_ms, 0.95) - percentile(direct_ms, 0.95)),
    }


def comparison(baseline: list[float], other: list[float]) -> dict[str, Any]:
    """What turning the switch on cost: paired median difference with its interval, and p50/p95 deltas."""
    differences = paired_differences(baseline, other)
    low, high = bootstrap_median_interval(differences)
    return {
        "paired_median_ms": rounded(statistics.median(differences)) if differences else None,
        "interval_95_ms": [rounded(low), rounded(high)],
        "p50_delta_ms": rounded(percentile(other, 0.5) - percentile(baseline, 0.5)),
        "p95_delta_ms": rounded(percentile(other, 0.95) - percentile(baseline, 0.95)),
        "p50_ratio": ratio(percentile(other, 0.5), percentile(baseline, 0.5)),
    }


def summarise(ttft_ms: dict[str, list[float]]) -> dict[str, Any]:
    direct = ttft_ms[DIRECT]
    return {
        "arms": {name: arm_summary(values, direct) for name, values in ttft_ms.items()},
        "comparisons": {f"{on} vs {off}": comparison(ttft_ms[off], ttft_ms[on]) for off, on in COMPARISONS},
    }


def audit_summary(record_ms: list[float], plain_ms: list[float]) -> dict[str, Any]:
    """Per-event time of `audit.services.record` and of a plain insert of the same row, each committed."""

    def one(values: list[float]) -> dict[str, Any]:
        mean = statistics.fmean(values)
        return {
            "events": len(values),
            "p50_ms": rounded(percentile(values, 0.5)),
            "p95_ms": rounded(percentile(values, 0.95)),
            "events_per_second": round(1000 / mean, 1) if mean > 0 else None,
        }

    return {"record": one(record_ms), "plain_insert": one(plain_ms), **comparison(plain_ms, record_ms)}


def ms_cell(value: float | None) -> str:
    return cell(value, " ms")


def latency_table(summary: dict[str, Any]) -> list[str]:
    lines = ["| arm | what | TTFT p50 | TTFT p95 | TTFT p99 | added p50 | added p95 |", "|---|---|---|---|---|---|---|"]
    for name, arm in summary["arms"].items():
        keys = ("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "added_p50_ms", "added_p95_ms")
        lines.append(f"| {name} | {ARMS[name]} | " + " | ".join(ms_cell(arm[k]) for k in keys) + " |")
    lines += [
        "",
        "| switch | paired median (95% interval) | p50 delta | p95 delta | p50 ratio |",
        "|---|---|---|---|---|",
    ]
    for name, row in summary["comparisons"].items():
        low, high = row["interval_95_ms"]
        lines.append(
            f"| {name} | {ms_cell(row['paired_median_ms'])} ({ms_cell(low)} to {ms_cell(high)}) | "
            f"{ms_cell(row['p50_delta_ms'])} | {ms_cell(row['p95_delta_ms'])} | {ratio_cell(row['p50_ratio'])} |"
        )
    return lines


def audit_table(audit: dict[str, Any]) -> list[str]:
    lines = ["| write, each in its own transaction | p50 | p95 | events/s |", "|---|---|---|---|"]
    for label, key in (("`audit.services.record(...)`", "record"), ("plain `INSERT` of the same row", "plain_insert")):
        row = audit[key]
        lines.append(
            f"| {label} | {ms_cell(row['p50_ms'])} | {ms_cell(row['p95_ms'])} | {cell(row['events_per_second'])} |"
        )
    low, high = audit["interval_95_ms"]
    lines.append("")
    lines.append(
        f"`record()` costs {ms_cell(audit['paired_median_ms'])} more per event than the plain insert "
        f"(paired median, 95% interval {ms_cell(low)} to {ms_cell(high)})."
    )
    return lines


def section(results: dict[str, Any]) -> str:
    kind = (
        f"**Quick smoke run** (`--quick`, {results['rounds']} rounds): it shows the bench runs end to end; "
        "its numbers are not a measurement."
        if results["quick"]
        else f"{results['rounds']} rounds after {results['warmup']} warm-up rounds."
    )
    probes = results["probes"]
    lines = [
        START,
        f"Generated by `bench/observability_overhead.py` on {results['date']} (commit {results['commit']}), "
        f"load average {results['load_before']:.2f} before and {results['load_after']:.2f} after. {kind}",
        "",
        f"What the servers exposed after the run: `/metrics` on the metrics-off process answered "
        f"{probes['off']['status']}; on the metrics-on process {probes['metrics']['status']} with "
        f"{probes['metrics']['turn_series']} `chatpresets_chat_turns_total` series; the OTLP sink received "
        f"{probes['otlp_exports']} trace export requests.",
        "",
        *latency_table(results["latency"]),
        "",
        *audit_table(results["audit"]),
        END,
    ]
    return "\n".join(lines)
