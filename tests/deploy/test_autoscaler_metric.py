"""The web autoscaler's streams metric, as far as this machine runs it: no Kubernetes here, so no HPA
controller or Prometheus adapter, but the parts they read are real. Prometheus scrapes two web processes
as two pods (with the metrics token, and the `namespace` and `pod` labels the adapter maps), and the
adapter rule of docs/deployment.md, rendered as the adapter renders it for the HPA's request, answers each
pod's open model streams while they stream, and none after."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conversations.conftest import server_env
from tests.conversations.test_overload_live import chat_key, eventually, messages_path, streaming
from tests.server import ROOT, daphne, free_port

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


@pytest.fixture
def prometheus() -> Iterator[Any]:
    """Start a Prometheus that scrapes the given targets every 100 ms: `start({pod: port})` gives its base URL."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="prometheus-")))

        def start(targets: dict[str, int]) -> str:
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
            port = free_port()
            log = (directory / "prometheus.log").open("wb")
            process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(log.close)
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            base = f"http://127.0.0.1:{port}"
            eventually(lambda: ready(base), within=20)
            return base

        yield start


def ready(base: str) -> bool:
    try:
        return httpx.get(base + "/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def per_pod(base: str, query: str) -> dict[str, float]:
    response = httpx.get(base + "/api/v1/query", params={"query": query}, timeout=5)
    assert response.status_code == 200, response.text
    return {row["metric"]["pod"]: float(row["value"][1]) for row in response.json()["data"]["result"]}


def test_the_adapters_query_gives_the_autoscaler_each_pods_open_streams(
    fake_server, fake_llm, acme, alice, prometheus
) -> None:
    rule, metric = adapter_rule(), autoscaler_metric()
    assert rule["name"]["as"] == metric["metric"]["name"] == "chatpresets_active_streams"
    assert metric["target"]["type"] == "AverageValue"
    query = rendered_query(rule, PODS)
    key = chat_key(acme, alice)
    env = server_env(fake_server, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.1  # six seconds a stream
    with daphne(env) as first, daphne(env) as second:
        base = prometheus({PODS[0]: int(first.rsplit(":", 1)[1]), PODS[1]: int(second.rsplit(":", 1)[1])})
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
