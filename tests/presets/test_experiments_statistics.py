"""The results arithmetic against examples worked by hand (math only, no scipy in the expectations)."""

from __future__ import annotations

import math

import pytest

from presets.experiments.statistics import (
    MeanSample,
    RateSample,
    VariantData,
    analyse,
    compare,
    interval,
    sample_ratio,
)

Z_975 = 1.959963984540054  # the 97.5th percentile of the standard normal


def thumbs(control: tuple[int, int], candidate: tuple[int, int], units: tuple[int, int] = (200, 200)) -> list:
    return [
        VariantData(name="a", weight=1, units=units[0], samples={"thumbs_up_rate": RateSample(*control)}),
        VariantData(name="b", weight=1, units=units[1], samples={"thumbs_up_rate": RateSample(*candidate)}),
    ]


def test_two_proportion_z_test_matches_the_hand_computed_example() -> None:
    # Control 40 of 200 thumbs up (20%), candidate 60 of 200 (30%).
    # Pooled rate 100/400 = 0.25; standard error sqrt(0.25 * 0.75 * (1/200 + 1/200)) = 0.0433013;
    # z = 0.10 / 0.0433013 = 2.3094; two-sided p = erfc(z / sqrt 2) = 0.020921.
    found = compare(RateSample(40, 200), RateSample(60, 200))
    error = math.sqrt(0.25 * 0.75 * (2 / 200))
    z = 0.1 / error
    assert found["statistic"] == pytest.approx(z) == pytest.approx(2.3094011)
    assert found["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2))) == pytest.approx(0.020921, abs=1e-6)
    assert found["difference"] == pytest.approx(0.10)


def test_rate_interval_matches_the_hand_computed_example() -> None:
    # 0.2 ± 1.96 * sqrt(0.2 * 0.8 / 200) = 0.2 ± 0.055437
    found = interval(RateSample(40, 200))
    half = Z_975 * math.sqrt(0.2 * 0.8 / 200)
    assert found["value"] == pytest.approx(0.2)
    assert (found["low"], found["high"]) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert half == pytest.approx(0.055437, abs=1e-6)


def test_welch_t_test_matches_the_hand_computed_statistic_and_degrees_of_freedom() -> None:
    from scipy import stats

    control, candidate = MeanSample(n=50, mean=120.0, sd=30.0), MeanSample(n=80, mean=110.0, sd=20.0)
    v1, v2 = 30.0**2 / 50, 20.0**2 / 80  # 18.0 and 5.0
    t = (110.0 - 120.0) / math.sqrt(v1 + v2)  # -2.0851
    df = (v1 + v2) ** 2 / (v1**2 / 49 + v2**2 / 79)  # 78.0...
    found = compare(control, candidate)
    assert found["statistic"] == pytest.approx(t) == pytest.approx(-2.0851441)
    assert found["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert 0.03 < found["p_value"] < 0.05


def test_mean_interval_uses_student_t() -> None:
    from scipy import stats

    found = interval(MeanSample(n=25, mean=10.0, sd=5.0))
    half = stats.t.ppf(0.975, 24) * 5.0 / 5.0  # 2.0639 * sd / sqrt(n)
    assert (found["low"], found["high"]) == (pytest.approx(10 - half), pytest.approx(10 + half))
    assert half == pytest.approx(2.0639, abs=1e-4)


def test_a_significant_improvement_names_the_winner() -> None:
    found = analyse(variants=thumbs((40, 200), (60, 200)), primary="thumbs_up_rate", guardrails=[], min_sample=100)
    assert found["verdict"] == {"status": "significant", "winner": "b"}
    assert found["variants"][1]["primary"]["judgement"] == "better"


def test_a_higher_rate_is_worse_for_a_lower_is_better_metric() -> None:
    variants = [
        VariantData(name="a", weight=1, units=200, samples={"error_rate": RateSample(40, 200)}),
        VariantData(name="b", weight=1, units=200, samples={"error_rate": RateSample(60, 200)}),
    ]
    found = analyse(variants=variants, primary="error_rate", guardrails=[], min_sample=100)
    assert found["variants"][1]["primary"]["judgement"] == "worse"
    assert found["verdict"] == {"status": "significant", "winner": "a"}


def test_no_verdict_below_the_minimum_sample() -> None:
    found = analyse(variants=thumbs((4, 20), (16, 20)), primary="thumbs_up_rate", guardrails=[], min_sample=100)
    assert found["verdict"] == {"status": "not_enough_data", "winner": None}
    assert found["variants"][1]["primary"]["p_value"] is not None  # shown, but not judged


def test_more_variants_lower_the_significance_level() -> None:
    variants = [*thumbs((40, 200), (60, 200)), VariantData("c", 1, 200, {"thumbs_up_rate": RateSample(41, 200)})]
    found = analyse(variants=variants, primary="thumbs_up_rate", guardrails=[], min_sample=100)
    assert found["alpha"] == pytest.approx(0.025)
    assert found["verdict"]["winner"] == "b"  # p = 0.0209 still passes 0.025


def test_sample_ratio_mismatch_is_detected() -> None:
    # 5000 vs 4500 under a 50/50 split: chi-square = 2 * 250**2 / 4750 = 26.3, p ~ 3e-7.
    found = sample_ratio([5_000, 4_500], [1, 1])
    assert found["mismatch"] is True
    assert found["p_value"] == pytest.approx(math.erfc(math.sqrt(2 * 250**2 / 4_750) / math.sqrt(2)))
    assert sample_ratio([5_000, 4_950], [1, 1])["mismatch"] is False


def test_results_carry_the_sample_ratio_check() -> None:
    found = analyse(
        variants=thumbs((40, 200), (60, 200), units=(900, 600)), primary="thumbs_up_rate", guardrails=[], min_sample=1
    )
    assert found["sample_ratio"]["mismatch"] is True


def test_empty_samples_have_no_estimate() -> None:
    assert interval(RateSample(0, 0))["value"] is None
    assert compare(RateSample(0, 0), RateSample(1, 5))["p_value"] is None
