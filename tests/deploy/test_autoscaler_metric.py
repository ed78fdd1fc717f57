"""The web autoscaler's streams metric, as far as this machine runs it: no Kubernetes here, so no HPA
controller or Prometheus adapter, but the parts they read are real. Prometheus scrapes two web processes
as two pods (with the metrics token, and the `namespace` and `pod` labels the adapter maps), and the
adapter rule of docs/deployment.md, rendered as the adapter renders it for the HPA's request, answers each
pod's open model streams while they stream, and none after."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.conversations.conftest import server_env
from tests.conversations.test_overload_live import chat_key, eventually, messages_path, streaming
from tests.server import ROOT, daphne, free_port, stop, wait_until_serving

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus (bin/ensure-promtool)"),
]

TOKEN = "autoscaler-scrape-token"
NAMESPACE = "chatpresets"
PODS = ("chatpresets-web-a", "chatpresets-web-b")


def adapter_rule() -> dict[str, Any]:
    """The Prometheus adapter rule docs/deployment.md gives operators."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "seriesQuery" in b]
    (rule,) = yaml.safe_load(block)["rules"]
    return rule


def autoscaler_metric() -> dict[str, Any]:
    """The pods metric of the web HorizontalPodAutoscaler in deploy/k8s/web.yaml."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "web.yaml").read_text())
    (hpa,) = [d for d in documents if d and d["kind"] == "HorizontalPodAutoscaler"]
    (pods,) = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    return pods


def rendered_query(rule: dict[str, Any], pods: tuple[str, ...]) -> str:
    """metricsQuery as the adapter fills it for a pods metric of these pods in NAMESPACE."""
    series = re.match(r"\s*([A-Za-z_:][A-Za-z0-9_:]*)", rule["seriesQuery"]).group(1)
    matchers = f'namespace="{NAMESPACE}",pod=~"{"|".join(pods)}"'
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", "pod")
    )


@contextmanager
def prometheus(targets: dict[str, int], directory: Path, *, timeout: float = 20.0) -> Iterator[str]:
    """A Prometheus scraping `targets` ({pod: port}) every 100 ms with the metrics token; yields its base URL."""
    config = {
        "global": {"scrape_interval": "100ms", "scrape_timeout": "100ms"},
        "scrape_configs": [
            {
                "job_name": "chatpresets-web",
                "authorization": {"type": "Bearer", "credentials": TOKEN},
                "static_configs": [
                    {"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE, "pod": pod}}
                    for pod, port in targets.items()
                ],
            }
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port, log = free_port(), directory / "prometheus.log"
    command = [
        "prometheus",
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, timeout, log, path="/-/ready", name="prometheus")
        yield base
    finally:
        stop(process)


def per_pod(base: str, query: str) -> dict[str, float]:
    response = httpx.get(base + "/api/v1/query", params={"query": query}, timeout=5)
    assert response.status_code == 200, response.text
    return {row["metric"]["pod"]: float(row["value"][1]) for row in response.json()["data"]["result"]}


def test_the_adapters_query_gives_the_autoscaler_each_pods_open_streams(
    fake_server, fake_llm, acme, alice, tmp_path
) -> None:
    rule, metric = adapter_rule(), autoscaler_metric()
    assert rule["name"]["as"] == metric["metric"]["name"] == "chatpresets_active_streams"
    assert metric["target"]["type"] == "AverageValue"
    query = rendered_query(rule, PODS)
    key = chat_key(acme, alice)
    env = server_env(fake_server, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.1  # six seconds a stream
    with (
        daphne(env) as first,
        daphne(env) as second,
        prometheus({PODS[0]: urlsplit(first).port, PODS[1]: urlsplit(second).port}, tmp_path) as base,
    ):
        # Before any turn: a pod that has streamed nothing yet still answers, with 0.
        eventually(lambda: per_pod(base, query) == {PODS[0]: 0.0, PODS[1]: 0.0}, within=10)
        discovered = httpx.get(base + "/api/v1/series", params={"match[]": rule["seriesQuery"]}, timeout=5)
        streams = [streaming(origin + messages_path(acme, alice), key) for origin in (first, first, first, second)]
        eventually(lambda: per_pod(base, query) == {PODS[0]: 3.0, PODS[1]: 1.0}, within=4)
        for stream in streams:
            stream.join(timeout=15)
        eventually(lambda: per_pod(base, query) == {PODS[0]: 0.0, PODS[1]: 0.0}, within=5)

    assert {series["pod"] for series in discovered.json()["data"]} == set(PODS)
    assert all(stream.events[-1] == "done" for stream in streams)
