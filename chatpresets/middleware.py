"""Request id and client address for every HTTP request; 503 when a dependency cannot serve;
400 for a NUL byte in the query string or a header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.deprecation import MiddlewareMixin

from chatpresets import errors, request_context

REQUEST_ID_HEADER = "X-Request-ID"


class AsyncCapableMiddleware:
    """A middleware for both chains: `_acall` serves async requests on the event loop, `_call` sync ones.

    Every middleware in the chain is async-capable: one sync-only middleware makes Django run the
    whole chain below it, async views included, through a worker thread and `async_to_sync` back.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._call(request)

    def _call(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError


class RequestContextMiddleware(AsyncCapableMiddleware):
    """Accept or mint a request id, expose it on the request, the response and in logs."""

    def _call(self, request: HttpRequest) -> HttpResponse:
        request_id = begin_request(request)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = begin_request(request)
        response = await self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def begin_request(request: HttpRequest) -> str:
    request_id = request_context.new_request_id(request.headers.get(REQUEST_ID_HEADER))
    request.request_id = request_id
    # Not reset on the way out: Django logs the response ("Not Found: …") after the middleware
    # chain returns, and that line needs the id too. Each ASGI request runs in its own context.
    request_context.begin(
        request_context.RequestContext(request_id=request_id, client_ip=request_context.client_ip_of(request))
    )
    return request_id


class OnLoopMiddlewareMixin(MiddlewareMixin):
    """Hooks that neither block nor touch the database run on the event loop in async mode.

    MiddlewareMixin sends each hook of an async request to a worker thread (one thread hop per
    hook, on every request); these hooks only read headers and build responses.
    """

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class NullCharacterMiddleware(OnLoopMiddlewareMixin):
    """A NUL in the query string or a header is a 400 before any view runs.

    PostgreSQL text cannot hold NUL, so any parameter or header that reaches a query (a filter,
    an API key, an `Idempotency-Key`) would raise there; no legitimate value carries one.
    Bodies are refused field by field (serializers, `conversations.services`).
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if "\x00" in unquote_plus(request.META.get("QUERY_STRING", ""), errors="replace"):
            return _null_refused(request, _parameter_with_null(request) or "query")
        name = next((name for name, value in request.headers.items() if "\x00" in value), None)
        return None if name is None else _null_refused(request, name)


def _parameter_with_null(request: HttpRequest) -> str | None:
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name
    return None


def _null_refused(request: HttpRequest, field: str) -> HttpResponse:
    if not errors.is_api(request):
        return HttpResponseBadRequest("Null characters are not allowed.")
    return errors.error_response(errors.InvalidInput("Null characters are not allowed.", details={"field": field}))


class DependencyUnavailableMiddleware(MiddlewareMixin):
    """A view (DRF, plain or async) that hits an exhausted pool or an unreachable Redis answers 503
    with `Retry-After` in the one error shape instead of a 500; anything else goes on to Django.
    Middleware failures reach `errors.server_error` (handler500), which maps them the same way."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        unavailable = errors.dependency_failure(exception)
        return None if unavailable is None else errors.error_response(unavailable)


class ApiNotFoundMiddleware(OnLoopMiddlewareMixin):
    """An unknown path under /api/ or /v1/ answers the JSON 404 even with DEBUG on.

    `handler404` (errors.page_not_found) is only consulted with DEBUG off; with it on, Django
    renders its technical HTML page, which an API client cannot parse.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code != 404 or not request.path.startswith(errors.API_PATH_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return errors.page_not_found(request, Exception("Not found."))
