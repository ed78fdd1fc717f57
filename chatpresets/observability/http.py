"""HTTP request counts and latency by route (the URL pattern's name), method and status.

Outermost in MIDDLEWARE so the time covers every other middleware. Not loaded at all
(MiddlewareNotUsed) while METRICS_ENABLED is off. A streamed response (SSE) is timed to its
headers: its stream's own time shows in the chat turn metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse

from chatpresets.middleware import AsyncCapableMiddleware
from chatpresets.observability import metrics

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The matched pattern's view name (bounded: one per route), or `unmatched` (a 404 by path)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unmatched"


def _observe(request: HttpRequest, response: HttpResponse, started: float) -> None:
    observe(route_of(request), request.method, response.status_code, started)


def observe(route: str, method: str | None, status: int, started: float) -> None:
    """One request to `route`, answered with `status`, that began at `started` (time.perf_counter)."""
    if not metrics.enabled():
        return
    method = method if method in METHODS else "other"
    metrics.HTTP_REQUESTS.labels(route, method, status).inc()
    metrics.HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)


class HttpMetricsMiddleware(AsyncCapableMiddleware):
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        if not metrics.enabled():
            raise MiddlewareNotUsed()
        super().__init__(get_response)

    def _call(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response
