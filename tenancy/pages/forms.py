"""Form handling shared by the account pages: the API's serializers validate what a form sends (one copy
of each rule), and an error becomes a message shown next to the form with the API's 4xx status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from rest_framework import serializers

from chatpresets.errors import DomainError, InvalidInput

View = Callable[..., HttpResponse]


def allow(*methods: str) -> Callable[[View], View]:
    """Only these methods reach the view (405 otherwise); OPTIONS answers which, as DRF and Django's
    class-based views do."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse()
                response["Allow"] = ", ".join((*methods, "OPTIONS"))
                return response
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            return view(request, *args, **kwargs)

        return checked

    return decorate


@dataclass(frozen=True)
class FormError:
    """What went wrong, in words for a person, and the status the API answers for it."""

    message: str
    status: int = 400


def validated(serializer_class: type[serializers.Serializer], data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The serializer's validated data, or InvalidInput whose message names each bad field."""
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    problems = [f"{_label(field)}: {messages[0]}" for field, messages in serializer.errors.items()]
    raise InvalidInput(" ".join(problems), details={"fields": serializer.errors})


def _label(field: str) -> str:
    return "Form" if field == "non_field_errors" else field.replace("_", " ").capitalize()


def attempt(action: Callable[[], Any]) -> tuple[Any, FormError | None]:
    """Run a service call; a broken rule comes back as a FormError instead of a raised exception."""
    try:
        return action(), None
    except DomainError as error:
        return None, FormError(error.message, error.status_code)


def answer(
    request: HttpRequest,
    *,
    page: str,
    partial: str,
    context: Callable[[], dict[str, Any]],
    section: str,
    error: FormError | None = None,
    done_url: str,
) -> HttpResponse:
    """htmx gets the section it swaps; a plain form post is redirected on success (so a reload does not
    post again) and shown the whole page with the message on failure."""
    status = error.status if error else 200
    if request.htmx:
        return render(request, partial, {**context(), "error": error, "error_section": section}, status=status)
    if error is None:
        return redirect(done_url, permanent=False)
    return render(request, page, {**context(), "error": error, "error_section": section}, status=status)
