"""The deployment files: Kubernetes manifests against the API schemas, the compose file's shape,
the Procfile's processes and the nginx template's settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
QUEUES = ("default", "summaries", "webhooks")
KUBERNETES_VERSION = "1.30"


def manifests() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc["kind"] != "Kustomization"]
    return documents


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


@pytest.mark.parametrize("manifest", manifests(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_every_manifest_is_valid_against_the_kubernetes_schema(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    deployment = by_kind("Deployment")["chatpresets-beat"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest_file() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {path.name for path in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_web_pods_are_probed_on_readyz_and_healthz_with_an_allowed_host() -> None:
    container = by_kind("Deployment")["chatpresets-web"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    allowed = by_kind("ConfigMap")["chatpresets-config"]["data"]["ALLOWED_HOSTS"].split(",")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert {"name": "Host", "value": "localhost"} in container[probe]["httpGet"]["httpHeaders"]
    assert "localhost" in allowed
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]


def test_a_web_pod_requests_a_whole_core() -> None:
    """The admission gate keeps at least two turns per process: two processes sharing a core hold its
    floor twice over (docs/operations.md), so the scheduler must not pack them."""
    container = by_kind("Deployment")["chatpresets-web"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] in {"1", 1, "1000m"}


def test_the_web_autoscaler_follows_cpu_active_streams_and_open_websockets() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["chatpresets-web"]
    (cpu,) = [m["resource"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    pods = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    assert cpu["name"] == "cpu"
    assert set(pods) == {"chatpresets_active_streams", "chatpresets_open_websockets"}
    # Half the process's socket cap: room left on each pod for the reconnects of one that drains.
    assert int(pods["chatpresets_open_websockets"]["averageValue"]) * 2 == settings.WEBSOCKET_MAX_OPEN
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chatpresets-web"
    metric_names = (DEPLOY / "prometheus" / "metric_names.txt").read_text().split()
    assert set(pods) <= set(metric_names)


def test_a_worker_per_queue_and_one_beat_that_is_recreated() -> None:
    deployments = by_kind("Deployment")
    for queue in QUEUES:
        command = deployments[f"chatpresets-worker-{queue}"]["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[command.index("-Q") + 1] == queue
    beat = deployments["chatpresets-beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]["type"]) == (1, "Recreate")


def test_every_scaled_deployment_has_a_disruption_budget_selecting_its_pods() -> None:
    budgets = by_kind("PodDisruptionBudget")
    for name, deployment in by_kind("Deployment").items():
        if deployment["spec"]["replicas"] == 1:
            continue
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]


def test_every_setting_the_manifests_set_is_a_documented_setting() -> None:
    readme = (DEPLOY.parent / "README.md").read_text()
    names = set(by_kind("ConfigMap")["chatpresets-config"]["data"]) | set(
        by_kind("Secret")["chatpresets-secrets"]["stringData"]
    )
    assert {name for name in names if f"| `{name}` |" not in readme} == set()


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_the_compose_file_runs_every_process_of_the_topology() -> None:
    services = compose()["services"]
    expected = {"web", "beat", "nginx", "postgres", "redis", "rabbitmq", "migrate"} | {f"worker-{q}" for q in QUEUES}
    assert set(services) == expected
    assert services["web"]["deploy"]["replicas"] > 1
    assert services["beat"]["deploy"]["replicas"] == 1
    for queue in QUEUES:
        command = services[f"worker-{queue}"]["command"]
        assert command[command.index("-Q") + 1] == queue


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    for name in ("postgres", "redis", "rabbitmq", "web", "nginx", *(f"worker-{q}" for q in QUEUES)):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "beat", *(f"worker-{q}" for q in QUEUES)):
        depends = services[name]["depends_on"]
        assert {depends[s]["condition"] for s in ("postgres", "redis", "rabbitmq")} == {"service_healthy"}
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_procfile_runs_web_a_worker_per_queue_and_beat() -> None:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))
    assert processes["web"].startswith("daphne ")
    assert "${PORT" in processes["web"]
    for queue in QUEUES:
        assert f" -Q {queue} " in processes[f"worker_{queue}"]
    assert "beat" in processes["beat"]


def test_nginx_upgrades_websockets_and_does_not_buffer_streams() -> None:
    conf = (DEPLOY / "nginx" / "chatpresets.conf").read_text()
    locations = dict(re.findall(r"location (\S+) \{(.*?)\n    \}", conf, re.S))
    assert set(locations) == {"/ws/", "/api/", "/v1/", "/"}
    for streaming in ("/ws/", "/api/", "/v1/"):
        assert "proxy_buffering off;" in locations[streaming]
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert set(re.findall(r"\$\{[A-Z_]+\}", conf)) == {"${CHATPRESETS_LISTEN}", "${CHATPRESETS_UPSTREAM_SERVERS}"}


def test_nginx_balances_on_counts_all_its_workers_share() -> None:
    """least_conn counts streams in flight; without a zone each nginx worker would count only its own."""
    conf = (DEPLOY / "nginx" / "chatpresets.conf").read_text()
    upstream = re.search(r"upstream chatpresets_web \{(.*?)\n\}", conf, re.S).group(1)
    lines = [line.strip() for line in upstream.splitlines()]
    directives = [line.split()[0] for line in lines if line and not line.startswith("#")]
    assert "least_conn;" in directives
    assert "zone" in directives


@pytest.mark.parametrize(
    "launcher",
    [
        "deploy/Procfile",
        "deploy/Dockerfile",
        "deploy/k8s/web.yaml",
        "bin/cluster",
        "bin/run",
        "bench/ws_capacity/servers.py",
    ],
)
def test_daphne_waits_for_a_handshake_longer_than_its_database_checks_may_take(launcher: str) -> None:
    """daphne drops a handshake its application has not answered within --websocket_connect_timeout (5 s
    by default): with the database down, the key lookup waits out the pool first, and its 4503 must arrive."""
    text = (DEPLOY.parent / launcher).read_text()
    assert "chatpresets.asgi:application" in text
    seconds = int(re.search(r"--websocket_connect_timeout\W+(\d+)", text).group(1))
    assert seconds > 2 * settings.DATABASE_POOL_TIMEOUT_SECONDS  # the key lookup and the consumer's check


def test_the_ingress_does_not_balance_on_response_times() -> None:
    """A pod refusing turns answers in milliseconds, a stream in seconds: ewma would favour the refusing pod."""
    annotations = by_kind("Ingress")["chatpresets"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/load-balance"] == "round_robin"


def test_nginx_lets_the_service_refuse_large_bodies_with_its_own_error() -> None:
    """nginx's limit is a backstop just above the service's, whose 413 carries the JSON error code."""
    conf = (DEPLOY / "nginx" / "chatpresets.conf").read_text()
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", conf).group(1))
    assert settings.REQUEST_BODY_MAX_BYTES < megabytes * 1024 * 1024 <= 1.5 * settings.REQUEST_BODY_MAX_BYTES


def test_compose_fills_the_nginx_template_from_the_environment() -> None:
    nginx = compose()["services"]["nginx"]
    assert "./nginx/chatpresets.conf:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    assert set(nginx["environment"]) == {"CHATPRESETS_LISTEN", "CHATPRESETS_UPSTREAM_SERVERS"}
    assert nginx["environment"]["CHATPRESETS_UPSTREAM_SERVERS"].startswith("server web:8000 resolve ")


def test_compose_nginx_asks_dockers_dns_again_within_seconds() -> None:
    """Docker's DNS answers with a TTL of 600 s: without `valid`, a recreated replica's new address
    would reach nginx ten minutes late."""
    nginx = compose()["services"]["nginx"]
    assert "./nginx/docker-dns.conf:/etc/nginx/conf.d/docker-dns.conf:ro" in nginx["volumes"]
    resolver = re.search(
        r"^resolver 127\.0\.0\.11 valid=(\d+)s\b", (DEPLOY / "nginx" / "docker-dns.conf").read_text(), re.M
    )
    assert int(resolver.group(1)) <= 10
