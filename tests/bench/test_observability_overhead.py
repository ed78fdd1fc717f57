"""The observability bench's arithmetic and report (bench/overhead_stats.py), without servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import overhead_stats
from bench.side_by_side import report


def test_paired_differences_subtract_round_by_round() -> None:
    assert overhead_stats.paired_differences([10.0, 12.0, 11.0], [11.0, 15.0, 11.5]) == [1.0, 3.0, 0.5]


def test_bootstrap_interval_brackets_the_median_and_is_reproducible() -> None:
    values = [float(v) for v in range(1, 101)]
    low, high = overhead_stats.bootstrap_median_interval(values)
    assert low < 50.5 < high
    assert (low, high) == overhead_stats.bootstrap_median_interval(values)
    constant = overhead_stats.bootstrap_median_interval([2.0] * 30)
    assert constant == (2.0, 2.0)


def test_a_single_value_has_no_interval() -> None:
    low, high = overhead_stats.bootstrap_median_interval([1.0])
    assert low != low
    assert high != high


def latency_samples(off: float, on: float, traced: float) -> dict[str, list[float]]:
    arms = {"D": [5.0] * 40}
    for transport in ("v1", "ws"):
        arms |= {f"{transport} off": [off] * 40, f"{transport} control": [off] * 40, f"{transport} metrics": [on] * 40}
        arms[f"{transport} metrics+traces"] = [traced] * 40
    return arms


def test_a_switch_costs_the_median_of_its_paired_differences() -> None:
    summary = overhead_stats.summarise(latency_samples(off=20.0, on=21.0, traced=23.0))
    assert summary["arms"]["v1 off"]["added_p50_ms"] == 15.0
    metrics = summary["comparisons"]["v1 metrics vs v1 off"]
    assert metrics["paired_median_ms"] == 1.0
    assert metrics["interval_95_ms"] == [1.0, 1.0]
    assert metrics["p50_ratio"] == 1.05
    assert summary["comparisons"]["ws metrics+traces vs ws off"]["p95_delta_ms"] == 3.0
    assert summary["comparisons"]["v1 control vs v1 off"]["paired_median_ms"] == 0.0


def test_paired_differences_cancel_drift_that_plain_percentiles_keep() -> None:
    # The machine slows down through the run; the switch adds 0.5 ms in every round.
    off = [10.0 + round_ * 0.5 for round_ in range(40)]
    on = [value + 0.5 for value in off]
    samples = latency_samples(20.0, 20.0, 20.0) | {"v1 off": off, "v1 control": off, "v1 metrics": on}
    metrics = overhead_stats.summarise(samples)["comparisons"]["v1 metrics vs v1 off"]
    assert metrics["paired_median_ms"] == 0.5
    assert metrics["interval_95_ms"] == [0.5, 0.5]


def test_audit_summary_gives_events_per_second_of_each_write() -> None:
    audit = overhead_stats.audit_summary([2.0] * 10, [0.5] * 10)
    assert audit["record"]["events_per_second"] == 500.0
    assert audit["plain_insert"]["events_per_second"] == 2000.0
    assert audit["paired_median_ms"] == 1.5


def results() -> dict:
    return {
        "quick": False,
        "date": "2026-12-02 10:00 UTC",
        "commit": "abc1234",
        "rounds": 40,
        "warmup": 5,
        "load_before": 0.5,
        "load_after": 0.7,
        "latency": overhead_stats.summarise(latency_samples(20.0, 21.0, 23.0)),
        "probes": {
            "off": {"status": 404, "turn_series": 0},
            "metrics": {"status": 200, "turn_series": 6},
            "otlp_exports": 9,
        },
        "audit": overhead_stats.audit_summary([2.0] * 10, [0.5] * 10),
    }


def test_the_report_section_states_what_was_live_and_the_costs(tmp_path: Path) -> None:
    text = overhead_stats.section(results())
    assert text.startswith(overhead_stats.START)
    assert text.endswith(overhead_stats.END)
    assert "answered 404; on the metrics-on process 200 with 6 `chatpresets_chat_turns_total` series" in text
    assert "received 9 trace export requests" in text
    assert "| v1 metrics vs v1 off | 1.0 ms (1.0 ms to 1.0 ms) | 1.0 ms | 1.0 ms | 1.05 |" in text
    assert "| plain `INSERT` of the same row | 0.5 ms | 0.5 ms | 2000.0 |" in text


def test_the_marked_section_of_the_doc_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"before\n{overhead_stats.START}\nold\n{overhead_stats.END}\nafter\n")
    report.replace_marked(doc, overhead_stats.START, overhead_stats.END, overhead_stats.section(results()))
    text = doc.read_text()
    assert text.startswith("before\n")
    assert text.endswith("\nafter\n")
    assert "old" not in text
    assert "abc1234" in text


def test_a_doc_without_the_markers_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("no markers\n")
    with pytest.raises(SystemExit):
        report.replace_marked(doc, overhead_stats.START, overhead_stats.END, "x")
