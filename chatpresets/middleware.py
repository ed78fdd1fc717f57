"""Request id and client address for every HTTP request; 503 when a dependency cannot serve."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from chatpresets import errors, request_context

REQUEST_ID_HEADER = "X-Request-ID"


class RequestContextMiddleware:
    """Accept or mint a request id, expose it on the request, the response and in logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_context.new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        # Not reset on the way out: Django logs the response ("Not Found: …") after the middleware
        # chain returns, and that line needs the id too. Each ASGI request runs in its own context.
        request_context.begin(
            request_context.RequestContext(request_id=request_id, client_ip=request_context.client_ip_of(request))
        )
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


class DependencyUnavailableMiddleware(MiddlewareMixin):
    """A view (DRF, plain or async) that hits an exhausted pool or an unreachable Redis answers 503
    with `Retry-After` in the one error shape instead of a 500; anything else goes on to Django.
    Middleware failures reach `errors.server_error` (handler500), which maps them the same way."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        unavailable = errors.dependency_failure(exception)
        return None if unavailable is None else errors.error_response(unavailable)


class ApiNotFoundMiddleware(MiddlewareMixin):
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
