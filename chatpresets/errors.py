"""One error shape for the whole API: {"error": {"code", "message", "details"}}.

Domain errors raise a DomainError subclass; this module is the only place that turns
exceptions into HTTP responses (and, later, websocket error frames).
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

import redis.exceptions
from django import db
from django.http import HttpRequest, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

API_PATH_PREFIXES = ("/api/", "/v1/")


class DomainError(Exception):
    """A rule of the product was broken; carries its machine-readable code and HTTP status."""

    code = "domain_error"
    status_code = status.HTTP_400_BAD_REQUEST
    message = "The request breaks a rule of the service."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.message
        self.details = details or {}
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """HTTP headers the refusal carries: `Retry-After` for errors that know when to retry."""
        retry = retry_after(self)
        return {} if retry is None else {"Retry-After": str(retry)}


def retry_after(error: Exception) -> int | None:
    """Whole seconds until a retry can succeed (at least 1), or None when waiting will not help."""
    seconds = getattr(error, "retry_after_seconds", None)
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(1, math.ceil(seconds))


class Conflict(DomainError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


class LastOwner(Conflict):
    code = "last_owner"
    message = "An organisation must keep at least one owner."


class AlreadyExists(Conflict):
    code = "already_exists"
    message = "That already exists."


class InvalidInput(DomainError):
    code = "invalid"


class TooLarge(InvalidInput):
    """An input over one of the size limits; `details` names the field, the limit and both sizes."""

    code = "too_large"
    message = "The input is larger than this service allows."


def too_large(*, field: str, limit: str, limit_value: int, size: int, what: str) -> TooLarge:
    """The refusal of an input over a size limit; `limit` names the setting that sets it."""
    return TooLarge(
        f"{what} is {size:,} characters; at most {limit_value:,} are allowed ({limit}).",
        details={"field": field, "limit": limit, "limit_value": limit_value, "size": size},
    )


class NotFound(DomainError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND
    message = "Not found."


class Forbidden(DomainError):
    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN
    message = "You do not have permission to perform this action."


class ScopeEscalation(Forbidden):
    code = "scope_escalation"
    message = "A key can only create keys with scopes it has itself."


class AccessRevoked(Forbidden):
    """An open websocket's key, membership or role no longer allows chat: it gets this frame, then closes."""

    code = "access_revoked"
    message = "Your access to this conversation was revoked; the socket is closing."


class ServiceUnavailable(DomainError):
    """A dependency (the database or Redis) is exhausted or unreachable: waiting may help, retrying now will not."""

    code = "service_unavailable"
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    message = "The service is overloaded or a dependency is unreachable; retry shortly."

    def __init__(self, *, dependency: str, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(details={"dependency": dependency, "retry_after": retry_after_seconds})


# Operational errors are the DB-API's "not the programmer's fault" family: a pool that timed out
# (psycopg_pool.PoolTimeout, wrapped by Django), "too many clients", a dropped connection, SQLite's
# "database is locked". A full pool frees up within a request's time; a Redis outage takes longer.
DEPENDENCY_ERRORS: dict[str, tuple[tuple[type[BaseException], ...], int]] = {
    "database": ((db.OperationalError, db.InterfaceError), 1),
    "redis": ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError), 5),
}


# Every class above, for an `except` that must not let an outage become a traceback (websockets).
UNAVAILABLE_EXCEPTIONS: tuple[type[BaseException], ...] = tuple(
    cls for classes, _ in DEPENDENCY_ERRORS.values() for cls in classes
)


def dependency_failure(exc: BaseException | None) -> ServiceUnavailable | None:
    """The 503 for an exception that says the database or Redis cannot serve now, else None."""
    for dependency, (classes, seconds) in DEPENDENCY_ERRORS.items():
        if isinstance(exc, classes):
            logger.warning("%s unavailable: %s: %s", dependency, type(exc).__name__, exc)
            return ServiceUnavailable(dependency=dependency, retry_after_seconds=seconds)
    return None


DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


# OpenAI's `error.type` by status, so its clients and SDKs classify our refusals as theirs (/v1).
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
OPENAI_ERROR_TYPES |= {429: "rate_limit_error", 500: "server_error", 502: "api_error", 503: "service_unavailable_error"}


def openai_fields(error: DomainError) -> dict[str, Any]:
    """OpenAI's `type` and `param` (the field at fault, or null), added beside the error's own keys."""
    kind = OPENAI_ERROR_TYPES.get(error.status_code, "invalid_request_error")
    return {"type": kind, "param": error.details.get("field")}


def error_response(error: DomainError) -> JsonResponse:
    """A plain Django response in the one error shape, with the error's headers."""
    response = JsonResponse(error_body(error.code, error.message, error.details), status=error.status_code)
    for name, value in error.headers().items():
        response[name] = value
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every handled exception leaves in the one error shape."""
    # Imported here: rest_framework.views loads the authentication classes, which raise these errors.
    from rest_framework.views import exception_handler as drf_exception_handler

    exc = dependency_failure(exc) or exc
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code, headers=exc.headers())
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), exc.default_code)
    else:  # Http404 and Django's PermissionDenied, converted by DRF above
        code = "not_found" if response.status_code == 404 else "permission_denied"
    response.data = error_body(code, _message(exc, response), _details(exc))
    return response


def _message(exc: Exception, response: Response) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "The request is not valid."
    if isinstance(exc, exceptions.APIException) and isinstance(exc.detail, str):
        return str(exc.detail)
    return str(response.data.get("detail", "Request failed.")) if isinstance(response.data, dict) else "Request failed."


def _details(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        return {"fields": detail} if isinstance(detail, dict) else {"fields": {"non_field_errors": detail}}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        return {"retry_after": int(exc.wait + 0.999)}
    return {}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PATH_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception) -> Any:
    if is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> Any:
    if is_api(request):
        return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> Any:
    if is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> Any:
    # Django calls handler500 inside its `except` block: an exhausted or unreachable dependency
    # raised by a middleware (a session save, say) is a 503 to retry, not an internal error.
    if (unavailable := dependency_failure(sys.exception())) is not None:
        return error_response(unavailable)
    if is_api(request):
        return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
    return defaults.server_error(request)


class Unprocessable(DomainError):
    code = "unprocessable"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


class SafetyFindingsBlocked(Unprocessable):
    code = "safety_findings"
    message = "Automated checks found problems and this organisation blocks submission on findings."


class InvalidState(Conflict):
    code = "invalid_state"
    message = "The object is not in a state that allows this action."


class SelfApproval(Forbidden):
    code = "self_approval"
    message = "A reviewer may not approve their own version."


class PromptHidden(Forbidden):
    code = "prompt_hidden"
    message = "Your access lets you run this preset but not see or copy its prompt."


class RetentionExpired(Conflict):
    code = "retention_expired"
    message = "The retention period has passed; this preset can no longer be restored."


class PresetNotApproved(Conflict):
    code = "preset_not_approved"
    message = "This preset has no approved version you can use yet."


class UnsafeUrl(InvalidInput):
    code = "unsafe_url"
    message = "This URL is not allowed as a delivery target."
