"""Several processes, one scrape: values written by two processes add up (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chatpresets.observability import metrics, multiprocess

COMPLETE_V1 = {"transport": "v1", "outcome": "complete"}
FAKE_V1 = {"model": "fake", "transport": "v1"}
WRITER = """
import django
django.setup()
from chatpresets.observability import metrics, multiprocess
multiprocess.register_exit_hook()
metrics.CHAT_TURNS.labels("v1", "complete").inc({turns})
metrics.TTFT.labels("fake", "v1").observe(0.2)
metrics.OPEN_WEBSOCKETS.labels().inc()
"""


def run_writer(directory: Path, turns: int) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatpresets.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "METRICS_ENABLED": "true",
        "METRICS_TOKEN": "t",
    }
    subprocess.run([sys.executable, "-c", WRITER.format(turns=turns)], env=env, check=True, timeout=60)


def test_values_from_two_processes_add_up_and_dead_processes_leave_live_gauges(tmp_path, monkeypatch) -> None:
    run_writer(tmp_path, 2)
    run_writer(tmp_path, 3)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    scrape = metrics.registry()
    assert scrape.get_sample_value("chatpresets_chat_turns_total", {"transport": "v1", "outcome": "complete"}) == 5
    assert (
        scrape.get_sample_value("chatpresets_time_to_first_token_seconds_count", {"model": "fake", "transport": "v1"})
        == 2
    )
    # Both writers exited and marked themselves dead: their open websockets no longer count.
    assert not scrape.get_sample_value("chatpresets_open_websockets")


def test_clearing_the_directory_starts_a_deployment_from_zero(tmp_path, monkeypatch) -> None:
    run_writer(tmp_path, 1)
    assert multiprocess.clear_directory(str(tmp_path)) > 0
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert (
        metrics.registry().get_sample_value("chatpresets_chat_turns_total", {"transport": "v1", "outcome": "complete"})
        is None
    )
