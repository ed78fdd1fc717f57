"""Request id and client address for every HTTP request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from chatpresets import request_context

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
