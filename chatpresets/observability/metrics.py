"""The Prometheus metric set (prefix `chatpresets_`), and nothing when METRICS_ENABLED is off.

Every instrumentation point calls `FAMILY.labels(...)` and then `inc`/`observe`/`set`: with
METRICS_ENABLED off `labels` returns one shared no-op child, so the chat path pays an attribute
read and a call, never a lock or a dict lookup. No organisation or user id is ever a label: label
values come from bounded sets (URL pattern names, catalogue model and endpoint names, plans,
limit kinds, task names).

Several web processes: prometheus_client's multiprocess mode. When PROMETHEUS_MULTIPROC_DIR is set
in the environment (before this module is imported) every process writes its values to memory-
mapped files in that directory and a scrape of any process sums them all (`registry()`). The
directory is per deployment and must be emptied before the processes start (`clear_directory`,
run by `python -m chatpresets.observability.multiprocess`); a process that exits marks itself dead
so its live gauges (open websockets, active streams: mode `livesum`) stop counting. Chosen over one
registry per process behind a scrape per port: one scrape target, the same `/metrics` everywhere,
and counters of a restarted process are not lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Our own registry: the scrape shows this service's metrics, not a library's defaults.
REGISTRY = CollectorRegistry(auto_describe=True)
# Seconds. TTFT runs from a few milliseconds (a local model) to the catalogue's 30 s budget.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TOKEN_TIME_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)


def enabled() -> bool:
    return bool(getattr(settings, "METRICS_ENABLED", False))


class _Noop:
    """Stands in for every metric child while metrics are off."""

    def inc(self, amount: float = 1) -> None:
        return None

    def dec(self, amount: float = 1) -> None:
        return None

    def set(self, value: float) -> None:
        return None

    def observe(self, value: float) -> None:
        return None


NOOP = _Noop()


class Family:
    """A metric created on first use (nothing is allocated while metrics are off) with its labels."""

    def __init__(self, kind: type, name: str, documentation: str, labels: Sequence[str] = (), **options: Any) -> None:
        self.kind, self.name, self.documentation = kind, name, documentation
        self.labelnames, self.options = tuple(labels), options
        self._metric: Any = None

    def metric(self) -> Any:
        if self._metric is None:
            self._metric = self.kind(self.name, self.documentation, self.labelnames, registry=REGISTRY, **self.options)
        return self._metric

    def labels(self, *values: Any) -> Any:
        """The child for these label values (in `labels` order), or the no-op child when metrics are off."""
        if not enabled():
            return NOOP
        metric = self.metric()
        return metric.labels(*(str(value) for value in values)) if self.labelnames else metric


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Family:
    return Family(Counter, name, documentation, labels)


def _histogram(name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> Family:
    return Family(Histogram, name, documentation, labels, buckets=buckets)


def _gauge(name: str, documentation: str, labels: Sequence[str] = (), mode: str = "livesum") -> Family:
    return Family(Gauge, name, documentation, labels, multiprocess_mode=mode)


HTTP_REQUESTS = _counter("chatpresets_http_requests_total", "HTTP responses", ("route", "method", "status"))
HTTP_DURATION = _histogram(
    "chatpresets_http_request_duration_seconds",
    "Time to the response (to its headers, for a streamed one)",
    ("route", "method"),
    LATENCY_BUCKETS,
)
CHAT_TURNS = _counter("chatpresets_chat_turns_total", "Chat turns by how they ended", ("transport", "outcome"))
TTFT = _histogram(
    "chatpresets_time_to_first_token_seconds",
    "Turn start to the first token sent",
    ("model", "transport"),
    LATENCY_BUCKETS,
)
ADDED_TTFT = _histogram(
    "chatpresets_added_time_to_first_token_seconds",
    "The service's own part of the time to first token (minus the upstream's time to its first chunk)",
    ("transport",),
    LATENCY_BUCKETS,
)
TPOT = _histogram(
    "chatpresets_time_per_output_token_seconds", "Time per output token after the first", ("model",), TOKEN_TIME_BUCKETS
)
TOKENS = _counter("chatpresets_tokens_total", "Tokens billed", ("model", "plan", "kind"))
COST = _counter("chatpresets_cost_dollars_total", "Cost billed, in the catalogue's currency", ("model", "plan"))
UPSTREAM_REQUESTS = _counter(
    "chatpresets_upstream_requests_total", "Upstream attempts (each retry and fallback is one)", ("endpoint",)
)
UPSTREAM_ERRORS = _counter("chatpresets_upstream_errors_total", "Failed upstream attempts", ("endpoint", "kind"))
UPSTREAM_RETRIES = _counter("chatpresets_upstream_retries_total", "Upstream attempts retried", ("endpoint",))
UPSTREAM_FALLBACKS = _counter(
    "chatpresets_upstream_fallbacks_total", "Calls moved past a model to the next of its chain", ("model",)
)
CIRCUIT_OPEN = _gauge(
    "chatpresets_circuit_breaker_open", "1 while the endpoint's circuit breaker is open", ("endpoint",), mode="max"
)
OPEN_WEBSOCKETS = _gauge("chatpresets_open_websockets", "Accepted conversation websockets")
ACTIVE_STREAMS = _gauge("chatpresets_active_streams", "Model calls streaming now")
TURN_ADMISSION_LIMIT = _gauge(
    "chatpresets_turn_admission_limit", "Turns the processes' admission gates let be in flight at once now"
)
TURN_ADMISSION_TARGET = _gauge(
    "chatpresets_turn_admission_target_seconds",
    "The service's own time to first token the admission gates hold their turns' 90th percentile under (the loosest)",
    mode="livemax",
)
TURN_ADMISSION_CHANGES = _counter(
    "chatpresets_turn_admission_changes_total", "Moves of the admission gates' limits, by what moved them", ("change",)
)
LIMIT_REFUSALS = _counter("chatpresets_limit_refusals_total", "Calls refused by a limit", ("kind",))
STREAM_REFUSALS = _counter(
    "chatpresets_stream_refusals_total", "Turns refused for want of a stream slot in this process", ("reason",)
)
WEBSOCKET_REFUSALS = _counter(
    "chatpresets_websocket_refusals_total",
    "Conversation websockets refused at the handshake (the process or the caller held its most), "
    "frames refused past a socket's budget, and sockets closed for flooding",
    ("reason",),
)
TASK_DURATION = _histogram("chatpresets_celery_task_duration_seconds", "Celery task run time", ("task",), TASK_BUCKETS)
QUEUE_REFUSALS = _counter(
    "chatpresets_celery_queue_refusals_total",
    "Background work refused: its queue was full or its broker unreachable",
    ("queue",),
)
TASK_FAILURES = _counter("chatpresets_celery_task_failures_total", "Celery tasks that raised", ("task",))
AUDIT_VERIFY_OK = _gauge(
    "chatpresets_audit_verify_ok", "1: the last audit chain verification found it intact", mode="mostrecent"
)
AUDIT_VERIFY_TIME = _gauge(
    "chatpresets_audit_verify_timestamp_seconds", "Last audit chain verification (Unix time)", mode="mostrecent"
)


def expose_web_gauges() -> None:
    """At a web process's start: its streams and sockets read 0 before its first turn. A metric is
    otherwise made on first use, and until then a pod has no series: no value for the autoscaler's
    streams metric, which then scales on CPU alone and, while it cannot read one of its metrics, does
    not scale down at all."""
    for gauge in (ACTIVE_STREAMS, OPEN_WEBSOCKETS):
        gauge.labels()


def record_audit_verification(*, intact: bool, at: float) -> None:
    """For the audit verifier: its result and when (Unix seconds), shown until the next run."""
    AUDIT_VERIFY_OK.labels().set(1 if intact else 0)
    AUDIT_VERIFY_TIME.labels().set(at)


_before_scrape: list[Callable[[], None]] = []


def before_scrape(refresh: Callable[[], None]) -> None:
    """Run `refresh` at each scrape: values kept in the database (the last audit verification, which
    another process or host may have written) are read then, not trusted to this process's memory."""
    _before_scrape.append(refresh)


def refresh_for_scrape() -> None:
    for refresh in _before_scrape:
        refresh()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def registry() -> CollectorRegistry:
    """What a scrape shows: every process's values (multiprocess mode) or this process's."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    combined = CollectorRegistry()
    MultiProcessCollector(combined, path=directory)
    return combined
