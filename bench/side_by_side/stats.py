"""Percentiles as the reports use them (inclusive method, so p99 of 30 values is defined)."""

from __future__ import annotations

import statistics


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]
