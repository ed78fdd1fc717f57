"""The arithmetic of results: intervals, the primary metric's test, sample-ratio mismatch.

All tail probabilities come from scipy.stats. The first variant is the control; every other
variant is compared with it, at a significance level divided by the number of comparisons
(Bonferroni), so adding variants does not make a false winner likelier. No verdict is given
while either side of a comparison has fewer observations than the minimum sample.
docs/experiments.md explains each step in plain words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats

from presets.experiments.models import HIGHER_IS_BETTER

CONFIDENCE = 0.95
ALPHA = 0.05
SRM_ALPHA = 0.001  # a split this unlikely by chance means assignment or logging is broken


@dataclass(frozen=True)
class RateSample:
    """`successes` of `trials` (e.g. answers regenerated of answers given)."""

    successes: int
    trials: int

    @property
    def n(self) -> int:
        return self.trials


@dataclass(frozen=True)
class MeanSample:
    """n observations summarised by their mean and sample standard deviation."""

    n: int
    mean: float
    sd: float


Sample = RateSample | MeanSample


@dataclass(frozen=True)
class VariantData:
    name: str
    weight: int
    units: int
    samples: dict[str, Sample] = field(default_factory=dict)


def interval(sample: Sample) -> dict[str, Any]:
    """The estimate with its 95% interval: normal (Wald) for a rate, Student's t for a mean."""
    if sample.n == 0:
        return {"n": 0, "value": None, "low": None, "high": None}
    if isinstance(sample, RateSample):
        value = sample.successes / sample.trials
        half = stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(value * (1 - value) / sample.trials)
    else:
        value = sample.mean
        if sample.n < 2:
            return {"n": sample.n, "value": value, "low": None, "high": None}
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, sample.n - 1) * sample.sd / math.sqrt(sample.n)
    return {"n": sample.n, "value": value, "low": value - half, "high": value + half}


def two_proportion_z(control: RateSample, candidate: RateSample) -> tuple[float, float]:
    """(z, two-sided p) of the candidate's rate minus the control's, with the pooled standard error."""
    pooled = (control.successes + candidate.successes) / (control.trials + candidate.trials)
    error = math.sqrt(pooled * (1 - pooled) * (1 / control.trials + 1 / candidate.trials))
    if error == 0:  # both all-or-nothing and equal: no evidence of a difference
        return 0.0, 1.0
    z = (candidate.successes / candidate.trials - control.successes / control.trials) / error
    return z, float(2 * stats.norm.sf(abs(z)))


def welch_t(control: MeanSample, candidate: MeanSample) -> tuple[float, float]:
    """(t, two-sided p) of the candidate's mean minus the control's, unequal variances allowed."""
    if control.sd == 0 and candidate.sd == 0:  # no spread: equal means are no evidence, unequal are certain
        gap = candidate.mean - control.mean
        return (0.0, 1.0) if gap == 0 else (math.copysign(math.inf, gap), 0.0)
    result = stats.ttest_ind_from_stats(
        candidate.mean, candidate.sd, candidate.n, control.mean, control.sd, control.n, equal_var=False
    )
    return float(result.statistic), float(result.pvalue)


def compare(control: Sample, candidate: Sample) -> dict[str, Any]:
    """The candidate against the control on one metric: difference, statistic and p-value."""
    if min(control.n, candidate.n) < 2:
        return {"difference": None, "statistic": None, "p_value": None}
    if isinstance(control, RateSample) and isinstance(candidate, RateSample):
        statistic, p_value = two_proportion_z(control, candidate)
        difference = candidate.successes / candidate.trials - control.successes / control.trials
    else:
        statistic, p_value = welch_t(control, candidate)
        difference = candidate.mean - control.mean
    return {"difference": difference, "statistic": statistic, "p_value": p_value}


def sample_ratio(observed: Sequence[int], weights: Sequence[int]) -> dict[str, Any]:
    """Chi-square goodness of fit of units per variant against the weights; `mismatch` at p < 0.001."""
    total = sum(observed)
    if total == 0:
        return {"p_value": None, "mismatch": False}
    expected = [total * weight / sum(weights) for weight in weights]
    p_value = float(stats.chisquare(list(observed), f_exp=expected).pvalue)
    return {"p_value": p_value, "mismatch": p_value < SRM_ALPHA}


def judgement(metric: str, comparison: dict[str, Any], alpha: float) -> str:
    """better / worse / no_difference for the candidate, given which direction is good for `metric`."""
    p_value = comparison["p_value"]
    if p_value is None or p_value >= alpha or not comparison["difference"]:
        return "no_difference"
    improved = (comparison["difference"] > 0) == (metric in HIGHER_IS_BETTER)
    return "better" if improved else "worse"


def analyse(
    *, variants: Sequence[VariantData], primary: str, guardrails: Sequence[str], min_sample: int
) -> dict[str, Any]:
    """Per variant: units, every metric with its interval, and its comparison with the control."""
    control = variants[0]
    alpha = ALPHA / max(len(variants) - 1, 1)
    rows, verdicts = [], []
    for variant in variants:
        row: dict[str, Any] = {"name": variant.name, "weight": variant.weight, "units": variant.units}
        row["metrics"] = {metric: interval(sample) for metric, sample in variant.samples.items()}
        if variant is not control:
            row["primary"] = _primary(control, variant, primary, alpha, min_sample)
            row["guardrails"] = _guardrails(control, variant, guardrails)
            verdicts.append((variant.name, row["primary"]))
        rows.append(row)
    return {
        "variants": rows,
        "primary_metric": primary,
        "alpha": alpha,
        "min_sample": min_sample,
        "sample_ratio": sample_ratio([v.units for v in variants], [v.weight for v in variants]),
        "verdict": _overall(control.name, verdicts, primary),
    }


def _primary(control: VariantData, variant: VariantData, metric: str, alpha: float, min_sample: int) -> dict[str, Any]:
    ours, theirs = control.samples[metric], variant.samples[metric]
    comparison = compare(ours, theirs)
    if min(ours.n, theirs.n) < min_sample:
        return {**comparison, "judgement": "not_enough_data"}
    return {**comparison, "judgement": judgement(metric, comparison, alpha)}


def _guardrails(control: VariantData, variant: VariantData, metrics: Sequence[str]) -> dict[str, Any]:
    """Each guardrail's comparison; `worse` is flagged at the plain 5% level (a guardrail errs on caution)."""
    found = {}
    for metric in metrics:
        comparison = compare(control.samples[metric], variant.samples[metric])
        found[metric] = {**comparison, "judgement": judgement(metric, comparison, ALPHA)}
    return found


def _overall(control: str, verdicts: list[tuple[str, dict[str, Any]]], metric: str) -> dict[str, Any]:
    """`winner` is the best significantly better candidate, the control when every candidate is
    significantly worse, else none; no verdict at all while any comparison lacks data."""
    if any(found["judgement"] == "not_enough_data" for _, found in verdicts):
        return {"status": "not_enough_data", "winner": None}
    better = [(name, found) for name, found in verdicts if found["judgement"] == "better"]
    if better:
        sign = 1 if metric in HIGHER_IS_BETTER else -1
        winner = max(better, key=lambda item: sign * item[1]["difference"])[0]
        return {"status": "significant", "winner": winner}
    if verdicts and all(found["judgement"] == "worse" for _, found in verdicts):
        return {"status": "significant", "winner": control}
    return {"status": "not_significant", "winner": None}
