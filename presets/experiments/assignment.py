"""Deterministic, sticky assignment: the same unit lands in the same variant on every process.

sha256("<experiment id>:<unit id>") read as a number in [0, 1) is the unit's bucket. A bucket
below the traffic share enrols the unit; rescaled to [0, 1) it then picks the variant by the
cumulative weights. Nothing is stored to remember a unit's variant: the hash is the memory, which
is why weights may not change while an experiment runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

_SCALE = float(2**64)


def bucket(experiment_id: Any, unit_id: Any) -> float:
    """A uniform number in [0, 1) fixed by the experiment and the unit (the first 64 bits of the hash)."""
    digest = hashlib.sha256(f"{experiment_id}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def pick(*, experiment_id: Any, unit_id: Any, traffic_share: float, weights: Sequence[int]) -> int | None:
    """The index of the unit's variant, or None when the unit is outside the experiment's traffic."""
    if not weights or min(weights) <= 0:
        raise ValueError("an experiment needs positive weights")
    position = bucket(experiment_id, unit_id)
    if position >= traffic_share:
        return None
    target = position / traffic_share * sum(weights)  # uniform over [0, total weight)
    cumulative = 0
    for index, weight in enumerate(weights):
        cumulative += weight
        if target < cumulative:
            return index
    return len(weights) - 1  # floating-point rounding at the very top of the range
