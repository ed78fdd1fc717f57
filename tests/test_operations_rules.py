"""The operator's files in deploy/: alert rules that Prometheus accepts and that fire when they should,
a dashboard that imports anywhere, both using only the metric-name contract, and a runbook entry
in docs/operations.md for every alert.

The promtool checks skip only when Debian's `prometheus` package is missing (bin/test installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "chatpresets.rules.yml"
RULE_TESTS = sorted(PROMETHEUS.glob("*.rules.test.yml"))  # promtool unit tests of the rules
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
CONTRACT = PROMETHEUS / "metric_names.txt"
DASHBOARD = ROOT / "deploy" / "grafana" / "chatpresets.json"
RUNBOOK = ROOT / "docs" / "operations.md"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) is not installed")

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMETHEUS_OWN = {"up"}  # series Prometheus writes itself for every target
# Labels that would give a series per tenant or person: never on a metric.
UNBOUNDED_LABELS = {"org", "org_id", "organization", "user", "user_id", "api_key", "key_id", "conversation_id"}
# Words in PromQL that look like metric names: functions, aggregations, keywords.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "rate", "increase", "histogram_quantile", "by", "without",
    "on", "ignoring", "and", "or", "unless", "time", "absent", "vector", "le", "bool",
}  # fmt: skip
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def contract() -> dict[str, tuple[str, list[str]]]:
    """name -> (type, labels) from deploy/prometheus/metric_names.txt."""
    metrics: dict[str, tuple[str, list[str]]] = {}
    for line in CONTRACT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels = line.split()
            metrics[name] = (kind, [] if labels == "-" else labels.split(","))
    return metrics


def exposed_names() -> set[str]:
    """Every series name the service exposes, histograms' _bucket/_sum/_count included."""
    names = set()
    for name, (kind, _) in contract().items():
        names |= {name + suffix for suffix in HISTOGRAM_SUFFIXES} if kind == "histogram" else {name}
    return names


def metric_names_in(expr: str) -> set[str]:
    """Names in a PromQL expression that are series: not strings, label sets, durations or keywords."""
    bare = re.sub(r'"[^"]*"', "", expr)  # string literals
    bare = re.sub(r"\{[^}]*\}", "", bare)  # label matchers
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range durations
    bare = re.sub(r"\boffset\s+\w+", "", bare)  # offset durations
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)  # grouping label lists
    bare = re.sub(r"\$\w+", "", bare)  # Grafana variables
    return {word for word in NAME.findall(bare) if word not in PROMQL_WORDS and not word.isdigit()}


def rule_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES.read_text())["groups"]


def rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])]


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(RULES), cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_fire_as_their_unit_tests_expect() -> None:
    result = promtool("test", "rules", *(path.name for path in RULE_TESTS), cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_example_scrape_config(tmp_path: Path) -> None:
    # promtool opens the bearer-token file the example names; give it one where the test can write.
    token = tmp_path / "token"
    token.write_text("example")
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(RULES, tmp_path / RULES.name)
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool checks PromQL only in rule files: each panel query becomes a recording rule.
    queries = [expr.replace("$__rate_interval", "5m") for expr in dashboard_exprs()]
    as_rules = [{"record": f"panel:q{index}", "expr": query} for index, query in enumerate(queries)]
    checked = {"groups": [{"name": "dashboard", "rules": as_rules}]}
    (tmp_path / "dashboard.rules.yml").write_text(yaml.safe_dump(checked))
    result = promtool("check", "rules", "dashboard.rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_contract_metrics_are_named_typed_and_bounded() -> None:
    for name, (kind, labels) in contract().items():
        assert name.startswith("chatpresets_"), name
        assert kind in {"counter", "gauge", "histogram"}, name
        assert (kind == "counter") == name.endswith("_total"), f"{name}: only counters end in _total"
        assert not UNBOUNDED_LABELS & set(labels), f"{name} has a per-tenant label"


def test_alert_rules_use_only_contract_metric_names() -> None:
    allowed = exposed_names() | recorded_names() | PROMETHEUS_OWN
    used = set().union(*(metric_names_in(rule["expr"]) for rule in rules()))
    assert used - allowed == set()
    assert used & exposed_names(), "the name extraction found no contract metric at all"


def test_dashboard_uses_only_contract_metric_names_and_shows_every_one() -> None:
    used = set().union(*(metric_names_in(expr) for expr in dashboard_exprs()))
    assert used - (exposed_names() | recorded_names() | PROMETHEUS_OWN) == set()
    shown = {name.removesuffix(suffix) for name in used for suffix in HISTOGRAM_SUFFIXES if name.endswith(suffix)}
    assert set(contract()) - (used | shown) == set(), "a contract metric has no panel"


def test_dashboard_reads_its_datasource_from_a_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique for Grafana to import the board"


def test_every_alert_links_a_runbook_entry_that_exists() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules():
        if "alert" in rule:
            anchor = rule["annotations"]["runbook_url"].partition("#")[2]
            assert anchor == rule["alert"].lower(), rule["alert"]
            assert anchor in headings, f"docs/operations.md has no runbook heading for {rule['alert']}"
            assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]


def test_every_alert_has_a_promtool_unit_test() -> None:
    unit_tests = [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]
    cases = [case for test in unit_tests for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    assert firing == {rule["alert"] for rule in rules() if "alert" in rule}


def test_the_service_defines_exactly_the_contract_metrics() -> None:
    from chatpresets.observability import metrics

    kinds = {Counter: "counter", Histogram: "histogram", Gauge: "gauge"}
    defined = {
        family.name: (kinds[family.kind], list(family.labelnames))
        for family in vars(metrics).values()
        if isinstance(family, metrics.Family)
    }
    assert defined == contract()
