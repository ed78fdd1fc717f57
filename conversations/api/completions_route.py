"""`POST /v1/chat/completions` with an API key, served from the ASGI application past Django's chain.

The view is the same (`openai_compat.chat_completions_endpoint`), and so are the request, the
response and their sending (the pieces of Django's `ASGIHandler`). What this route leaves out is
the part a key request only pays for: the `request_started` and `request_finished` signals (a
thread hop each; `database_sync_to_async` closes stale connections around every query instead),
the middleware chain's wrappers, and `SecurityMiddleware`'s two hooks in worker threads. Those
hooks, and every other header-only hook of the chain, run here on the event loop, in the chain's
order (`ON_LOOP`); every other middleware in settings is accounted for in `LEFT_OUT`, and a test
fails when one is added without a decision.

Anything else (another method, a request without a key, or tracing on, which hangs the turn's
spans under the request span of Django's instrumentation) goes through Django as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from chatpresets import errors
from chatpresets.bearer import bearer_secret
from chatpresets.middleware import REQUEST_ID_HEADER, begin_request
from chatpresets.observability import http as http_metrics
from chatpresets.observability import tracing
from conversations.api.openai_compat import chat_completions_endpoint

PATH = "/v1/chat/completions"
ROUTE = "openai-chat-completions"

# The hooks of settings.MIDDLEWARE this route runs, in that order: each reads the request or sets
# headers, without I/O.
ON_LOOP = (
    "chatpresets.middleware.NullCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "chatpresets.browser_middleware.CommonMiddleware",
    "chatpresets.browser_middleware.XFrameOptionsMiddleware",
    "chatpresets.browser_middleware.CSPMiddleware",
)
# The rest of settings.MIDDLEWARE, and why a key request to this route does without it.
LEFT_OUT = {
    "chatpresets.observability.http.HttpMetricsMiddleware": "the route observes the same metrics",
    "chatpresets.middleware.RequestContextMiddleware": "the route begins the same request context",
    "chatpresets.middleware.ApiNotFoundMiddleware": "the path exists",
    "chatpresets.middleware.DependencyUnavailableMiddleware": "handler500 maps the same failures to 503",
    "chatpresets.static_files.AsyncWhiteNoiseMiddleware": "not a static file",
    "chatpresets.browser_middleware.SessionMiddleware": "passes key requests through",
    "chatpresets.browser_middleware.CsrfViewMiddleware": "passes key requests through",
    "chatpresets.browser_middleware.AuthenticationMiddleware": "passes key requests through",
    "chatpresets.browser_middleware.MessageMiddleware": "passes key requests through",
    "django_htmx.middleware.HtmxMiddleware": "marks htmx requests from pages",
    "simple_history.middleware.HistoryRequestMiddleware": "the route changes no model with history",
    "axes.middleware.AxesMiddleware": "guards sign-in",
    # Added while tracing is on, when the route hands every request to the chain.
    tracing.DJANGO_MIDDLEWARE: "tracing on: the chain serves",
    tracing.ASYNC_DJANGO_MIDDLEWARE: "tracing on: the chain serves",
}


def takes(scope: dict[str, Any]) -> bool:
    """A completion with a key, while nothing asks for Django's request span."""
    if scope["method"] != "POST" or scope["path"].removeprefix(scope.get("root_path", "")) != PATH:
        return False
    if tracing.active():
        return False
    authorization = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
    return bearer_secret(authorization.decode("latin-1")) is not None


class CompletionsRoute:
    """Wraps Django's ASGI handler: takes what `takes`, hands it everything else."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.hooks = [import_string(path)(_never_called) for path in ON_LOOP]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not takes(scope):
            await self.handler(scope, receive, send)
            return
        # As in Django's handler: this request's thread-sensitive work has a thread of its own.
        async with ThreadSensitiveContext():
            await self._handle(scope, receive, send)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            body_file = await self.handler.read_body(receive)
        except RequestAborted:
            return
        try:
            request, refusal = self.handler.create_request(scope, body_file)
            # As Django's handler: a client that leaves cancels the answer, so its holds go back.
            serving = asyncio.create_task(self._serve(request, refusal, started, send))
            listening = asyncio.create_task(self.handler.listen_for_disconnect(receive))
            await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
            for task in (listening, serving):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task
        finally:
            body_file.close()

    async def _serve(
        self, request: HttpRequest | None, refusal: HttpResponse | None, started: float, send: Any
    ) -> None:
        response = refusal if request is None else await self._respond(request)
        http_metrics.observe(ROUTE, "POST", response.status_code, started)
        # The client left while the answer was sent: as in Django's handler, nothing more to do.
        with contextlib.suppress(asyncio.CancelledError):
            await self.handler.send_response(response, send)

    async def _respond(self, request: HttpRequest) -> HttpResponse:
        request_id = begin_request(request)
        try:
            response = None
            for hook in self.hooks:
                if hasattr(hook, "process_request") and (response := hook.process_request(request)) is not None:
                    break
            if response is None:
                response = await chat_completions_endpoint(request)
        except Exception as error:
            response = await _failed(request, error)
        for hook in reversed(self.hooks):
            if hasattr(hook, "process_response"):
                response = hook.process_response(request, response)
        response[REQUEST_ID_HEADER] = request_id
        return response


async def _failed(request: HttpRequest, error: Exception) -> HttpResponse:
    """As the chain answers: an exhausted or unreachable dependency is a 503 (the chain's
    DependencyUnavailableMiddleware); anything else is Django's answer to it (a refused host 400, a
    logged 500 in the API's error shape)."""
    if (unavailable := errors.dependency_failure(error)) is not None:
        return errors.error_response(unavailable)
    return await sync_to_async(response_for_exception, thread_sensitive=False)(request, error)


def _never_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the route calls the hooks, not the chain")
