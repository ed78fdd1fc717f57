"""Which HTTP methods a page takes, and in what shape its forms come.

Pages answer OPTIONS with their methods (as the API's routes and Django's class-based views do),
refuse other methods with 405, and take POST bodies only as browser forms: a JSON body is a 400,
not a form silently read as empty.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

View = Callable[..., HttpResponse]


def _has_body(request: HttpRequest) -> bool:
    """An empty POST (a bare button, curl -X POST) carries no form to misread."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    return not length.isdigit() or int(length) > 0


def page_methods(*methods: str) -> Callable[[View], View]:
    """GET pages answer HEAD too, as Django's own views do."""
    methods = (*methods, "HEAD") if "GET" in methods else methods
    allowed = [*methods, "OPTIONS"]

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse()
                response["Allow"] = ", ".join(allowed)
                return response
            if request.method not in methods:
                return HttpResponseNotAllowed(allowed)
            if request.method == "POST" and _has_body(request) and request.content_type not in FORM_TYPES:
                return HttpResponseBadRequest("This page takes a form.", content_type="text/plain")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
