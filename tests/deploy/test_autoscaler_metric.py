"""The web autoscaler's streams and websockets metrics, as far as this machine runs them: no Kubernetes
here, so no HPA controller or Prometheus adapter, but the parts they read are real. Prometheus scrapes two
web processes as two pods (with the metrics token, and the `namespace` and `pod` labels the adapter maps),
and the adapter rules of docs/deployment.md, rendered as the adapter renders them for the HPA's request,
answer each pod's open model streams while they stream and its open websockets while they are open, and
none after."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import pytest
import yaml

from conversations.models import Conversation
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


def adapter_rules() -> dict[str, dict[str, Any]]:
    """The Prometheus adapter rules docs/deployment.md gives operators, by the metric name they expose."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "seriesQuery" in b]
    return {rule["name"]["as"]: rule for rule in yaml.safe_load(block)["rules"]}


def autoscaler_metrics() -> dict[str, dict[str, Any]]:
    """The pods metrics of the web HorizontalPodAutoscaler in deploy/k8s/web.yaml, by name."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "web.yaml").read_text())
    (hpa,) = [d for d in documents if d and d["kind"] == "HorizontalPodAutoscaler"]
    pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    return {metric["metric"]["name"]: metric for metric in pods}


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


async def holding_sockets(urls: list[str], key: str, check: Any) -> None:
    """Open a conversation websocket at each of `urls`, run `check` (blocking) while they are open, close them."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        sockets = [await session.ws_connect(url) for url in urls]
        for socket in sockets:
            await socket.send_json({"type": "ping"})
            assert (await socket.receive_json(timeout=5)) == {"type": "pong"}
        await asyncio.to_thread(check)
        for socket in sockets:
            await socket.close()


def test_the_adapters_queries_give_the_autoscaler_each_pods_streams_and_sockets(
    fake_server, fake_llm, acme, alice, tmp_path
) -> None:
    rules, metrics = adapter_rules(), autoscaler_metrics()
    assert set(rules) == set(metrics) == {"chatpresets_active_streams", "chatpresets_open_websockets"}
    assert {metric["target"]["type"] for metric in metrics.values()} == {"AverageValue"}
    streams_query = rendered_query(rules["chatpresets_active_streams"], PODS)
    sockets_query = rendered_query(rules["chatpresets_open_websockets"], PODS)
    key = chat_key(acme, alice)
    socket_path = f"/ws/orgs/{acme.slug}/conversations/{Conversation.objects.create(org=acme, user=alice).pk}/"
    env = server_env(fake_server, METRICS_ENABLED="true", METRICS_TOKEN=TOKEN)
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 60, 0.1  # six seconds a stream
    with (
        daphne(env) as first,
        daphne(env) as second,
        prometheus({PODS[0]: urlsplit(first).port, PODS[1]: urlsplit(second).port}, tmp_path) as base,
    ):
        # Before any turn or socket: a pod that has streamed nothing yet still answers, with 0.
        for query in (streams_query, sockets_query):
            eventually(lambda q=query: per_pod(base, q) == {PODS[0]: 0.0, PODS[1]: 0.0}, within=10)
        discovered = {
            name: httpx.get(base + "/api/v1/series", params={"match[]": rule["seriesQuery"]}, timeout=5).json()
            for name, rule in rules.items()
        }
        streams = [streaming(origin + messages_path(acme, alice), key) for origin in (first, first, first, second)]
        eventually(lambda: per_pod(base, streams_query) == {PODS[0]: 3.0, PODS[1]: 1.0}, within=4)
        for stream in streams:
            stream.join(timeout=15)
        eventually(lambda: per_pod(base, streams_query) == {PODS[0]: 0.0, PODS[1]: 0.0}, within=5)

        def three_and_one_open() -> None:
            eventually(lambda: per_pod(base, sockets_query) == {PODS[0]: 3.0, PODS[1]: 1.0}, within=4)

        urls = [origin.replace("http", "ws", 1) + socket_path for origin in (first, first, first, second)]
        asyncio.run(holding_sockets(urls, key, three_and_one_open))
        eventually(lambda: per_pod(base, sockets_query) == {PODS[0]: 0.0, PODS[1]: 0.0}, within=5)

    for found in discovered.values():
        assert {series["pod"] for series in found["data"]} == set(PODS)
    assert all(stream.events[-1] == "done" for stream in streams)
