"""The side-by-side bench's own parts: the pass-through proxy, the arithmetic and the doc rewrite."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bench.side_by_side import litellm_env, report
from bench.side_by_side.arms import Samples
from bench.side_by_side.openloop import Step, sustainable
from bench.side_by_side.processes import litellm_config, passthrough
from bench.side_by_side.summary import phase_one, phase_two
from conversations.testing.fake_llm import FakeConfig, FakeLLMServer


def test_passthrough_proxy_relays_the_model_stream_unchanged() -> None:
    fake = FakeLLMServer(FakeConfig(output_tokens=4)).start()
    try:
        with passthrough(fake.base_url.removesuffix("/v1")) as origin:
            body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}
            response = httpx.post(f"{origin}/v1/chat/completions", json=body, timeout=10)
    finally:
        fake.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    words = [json.loads(e)["choices"][0]["delta"].get("content", "") for e in events if e != "[DONE]"]
    assert "".join(words) == "w0 w1 w2 w3 "
    assert events[-1] == "[DONE]"


def samples(ttft: list[float], gap: float = 1.0) -> Samples:
    return Samples(ttft_ms=ttft, gaps_ms=[gap] * len(ttft), chunks=[16] * len(ttft))


def test_added_time_is_measured_over_the_direct_arm_and_ratios_over_litellm() -> None:
    arms = {
        "D": samples([10.0] * 5),
        "F": samples([11.0] * 5),
        "L": samples([30.0] * 5, gap=3.0),
        "O": samples([20.0] * 5),
        "O'": samples([15.0] * 5),
        "W": samples([40.0] * 5),
    }
    one = phase_one(arms)
    assert one["arms"]["L"]["added_ttft_p50_ms"] == 20.0
    assert one["arms"]["L"]["added_gap_p99_ms"] == 2.0
    assert one["ratios"]["O_minus_D_over_L_minus_D_p50"] == 0.5
    assert one["ratios"]["W_minus_D_over_L_minus_D_p99"] == 1.5
    assert one["ratios"]["O_over_O_plain_ttft_p50"] == pytest.approx(1.333)


def step(arm: str, rate: int, ttft: float, errors: int = 0) -> Step:
    failed = Counter({"status 503": errors} if errors else {})
    return Step(arm, rate, sent=10, ttft_ms=[ttft] * 10, errors=failed, elapsed=10 / rate)


def test_sustainable_rate_is_the_last_rate_passed_with_every_lower_one() -> None:
    steps = [step("O", 5, 20.0), step("O", 10, 40.0), step("O", 20, 90.0), step("L", 5, 70.0), step("F", 5, 5.0)]
    steps.append(step("F", 10, 5.0, errors=1))
    assert sustainable(steps, "O", 0.0, 50.0) == 10
    assert sustainable(steps, "L", 0.0, 50.0) == 0
    assert sustainable(steps, "F", 0.0, 50.0) == 5
    two = phase_two(steps, baseline_ms=0.0, threshold_ms=50.0, ceiling_rps=21.0)
    assert two["O_over_L"] is None  # LiteLLM sustained nothing: no ratio rather than a division by zero
    assert two["near_fake_model_ceiling"] == ["O"]


def test_litellm_config_routes_its_one_model_to_the_fake_model() -> None:
    config = json.loads(litellm_config("http://127.0.0.1:9"))
    (model,) = config["model_list"]
    assert model["litellm_params"] == {"model": "openai/fake", "api_base": "http://127.0.0.1:9/v1", "api_key": "unused"}
    assert config["litellm_settings"]["callbacks"] == []


def test_the_doc_rewrite_replaces_only_the_marked_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(f"before\n{report.START}\nold\n{report.END}\nafter\n")
    monkeypatch.setattr(report, "DOC", doc)
    monkeypatch.setattr(report, "section", lambda results: f"{report.START}\nnew\n{report.END}")
    report.rewrite_doc({})
    assert doc.read_text() == f"before\n{report.START}\nnew\n{report.END}\nafter\n"


def test_an_installed_pin_is_reused_and_an_older_release_never_stands_in_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATPRESETS_BENCH_CACHE", str(tmp_path))
    for version in ("1.100.0", "1.108.7", "1.109.2"):
        (tmp_path / f"litellm-{version}").mkdir()
        (tmp_path / f"litellm-{version}" / litellm_env.MARKER).write_text("{}")
    (tmp_path / "litellm-1.110.0").mkdir()  # an install that never finished
    assert litellm_env.ensure_litellm("1.108.7").version == "1.108.7"
    assert litellm_env._installed("1.109.0").version == "1.109.2"  # the pin failed here; a newer one did not
    assert litellm_env._installed("1.110.0") is None  # unfinished, and nothing newer: install it
