"""OpenTelemetry's Django middleware, async-capable; loaded only when tracing is on (tracing.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware

from chatpresets.middleware import AsyncCapableMiddleware


class AsyncTracingMiddleware(AsyncCapableMiddleware, _DjangoMiddleware):
    """The request span, opened and closed on the event loop: its hooks neither block nor query."""

    def _call(self, request: HttpRequest) -> HttpResponse:
        return _DjangoMiddleware.__call__(self, request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        response = await self.get_response(request)
        return self.process_response(request, response)
