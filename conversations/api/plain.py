"""What the plain (async) API views share: the one error response, and the methods each accepts.

DRF answers OPTIONS and refuses other methods for its views; these views do it here, so every
route says which methods it takes (`Allow`) and the schema test can compare them with the schema.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from chatpresets.errors import DomainError, error_body

AsyncView = Callable[..., Awaitable[HttpResponse]]


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    status_code = 405

    def __init__(self, allowed: str) -> None:
        self.allowed = allowed
        super().__init__(f"Use {allowed}.", details={"allowed": allowed.split(", ")})

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "Allow": self.allowed}


def error_response(error: DomainError, *, extra: dict[str, Any] | None = None) -> JsonResponse:
    """The one error shape; `extra` adds keys beside `code` (OpenAI's `type` and `param` on /v1)."""
    body = error_body(error.code, error.message, error.details)
    body["error"].update(extra or {})
    response = JsonResponse(body, status=error.status_code)
    for name, value in error.headers().items():
        response[name] = value
    if error.status_code == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def accepts(
    *methods: str, refuse: Callable[[DomainError], HttpResponse] = error_response
) -> Callable[[AsyncView], AsyncView]:
    """Answer OPTIONS with `Allow` (no body, no auth) and any other method outside `methods` with a 405.

    The view keeps the methods as `http_methods`, which the schema and its route test read.
    """
    allowed = ", ".join((*methods, "OPTIONS"))

    def decorate(view: AsyncView) -> AsyncView:
        @functools.wraps(view)
        async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse(status=200)
                response["Allow"] = allowed
                return response
            if request.method not in methods:
                return refuse(MethodNotAllowed(allowed))
            return await view(request, *args, **kwargs)

        guarded.http_methods = methods  # type: ignore[attr-defined]
        return guarded

    return decorate
