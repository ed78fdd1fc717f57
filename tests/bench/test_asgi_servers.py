"""The daphne-or-uvicorn bench's own parts: the noise rule, the knee per pass, /proc readings, commands."""

from __future__ import annotations

import os
from collections import Counter

from bench.side_by_side import asgi_report
from bench.side_by_side.arms import Samples
from bench.side_by_side.asgi_processes import daphne_command, usage, uvicorn_command
from bench.side_by_side.openloop import Step


def test_a_winner_must_be_better_in_every_repeat_by_more_than_the_noise() -> None:
    assert asgi_report.compare([20.0, 21.0, 20.5], [15.0, 15.5, 16.0])["winner"] == "uvicorn"
    # Better on average, but one repeat goes the other way: noise, not a result.
    assert asgi_report.compare([20.0, 21.0, 20.5], [15.0, 22.0, 16.0])["winner"] == "tie"
    # Better in every repeat, by less than either server's own spread across repeats.
    assert asgi_report.compare([20.0, 26.0], [19.0, 25.0])["winner"] == "tie"
    assert asgi_report.compare([30.0, 30.0], [20.0, 20.0], lower_is_better=False)["winner"] == "daphne"


def row(server: str, rate: int, passed: bool, pass_number: int = 1, cpu: float = 10.0) -> dict:
    step = Step(server, rate, sent=10, ttft_ms=[20.0] * 10, errors=Counter(), elapsed=10 / rate)
    return asgi_report.step_row(
        step, pass_number=pass_number, ok=passed, below_knee=passed, cpu_ms=cpu * 10, baseline=1.0
    )


def test_the_sustainable_rate_is_read_per_pass_and_cpu_compared_only_where_both_passed() -> None:
    rows = [row("daphne", 10, True), row("uvicorn", 10, True, cpu=8.0), row("daphne", 20, False)]
    rows += [row("uvicorn", 20, True, cpu=7.0), row("uvicorn", 30, False)]
    rows += [row("daphne", 10, True, 2), row("uvicorn", 10, True, 2), row("daphne", 20, True, 2)]
    rows += [row("uvicorn", 20, False, 2)]
    two = asgi_report.phase_two(rows, baseline_ms=1.0, threshold_ms=50.0, knee_ms=250.0)
    assert two["sustainable_rps_per_pass"] == {"daphne": [10, 20], "uvicorn": [20, 10]}
    assert two["knee_rps_per_pass"] == two["sustainable_rps_per_pass"]
    assert two["cpu_ms_per_answer_where_both_passed"] == {"daphne": [10.0, 10.0], "uvicorn": [8.0, 10.0]}


def test_phase_one_pools_the_repeats_and_keeps_each_repeats_added_time() -> None:
    def repeat(daphne: float) -> dict:
        samples = {"D": Samples(ttft_ms=[10.0] * 4), "daphne /v1": Samples(ttft_ms=[daphne] * 4)}
        return asgi_report.repeat_summary(samples, cpu_ms_per_request={"daphne": 5.0, "uvicorn": 4.0})

    one = asgi_report.phase_one([repeat(30.0), repeat(34.0)])
    arm = one["arms"]["daphne /v1"]
    assert arm["added_p50_per_repeat_ms"] == [20.0, 24.0]
    assert arm["added_p50_spread_ms"] == 4.0
    assert arm["requests"] == 8
    assert "raw" not in one["repeats"][0]["arms"]["D"]  # the JSON keeps percentiles, not every sample


def test_usage_reads_this_process_cpu_time_and_memory() -> None:
    spent = usage(os.getpid())
    assert spent.cpu_seconds > 0
    assert 0 < spent.rss_kb <= spent.peak_rss_kb


def test_both_servers_get_the_production_websocket_ping_and_proxy_settings() -> None:
    daphne = daphne_command(8001)
    uvicorn = uvicorn_command(8002, ws_max_bytes=1024)
    assert daphne[daphne.index("--ping-interval") + 1] == uvicorn[uvicorn.index("--ws-ping-interval") + 1]
    assert daphne[daphne.index("--ping-timeout") + 1] == uvicorn[uvicorn.index("--ws-ping-timeout") + 1]
    assert "--proxy-headers" in daphne
    assert "--proxy-headers" in uvicorn
    assert uvicorn[uvicorn.index("--ws-max-size") + 1] == "1024"
