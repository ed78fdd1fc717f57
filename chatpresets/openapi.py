"""The OpenAPI schema's error responses: every operation lists the statuses it can really answer.

drf-spectacular documents only the success bodies a view declares. The errors come from layers every
DRF view shares (authentication, roles and scopes, throttles, the body limit, path lookups, the
database and Redis), so they are derived here from the operation's shape instead of repeated per view.
A view adds a status only it can answer (422, say) with `extend_schema(responses={422: ERROR})`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from chatpresets.validators import NOT_BLANK_PATTERN

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable; docs/errors.md lists every code.")
    message = serializers.CharField()
    details = serializers.DictField(
        help_text="Structured context: `fields` for validation errors, limits, retry hints."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR = OpenApiResponse(ErrorSerializer, description="An error in the one error shape.")

RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}

SHARED = {
    "400": "Invalid input: a body, path or query value the API refuses (`details.fields` names each field).",
    "401": "No credentials, or an invalid, expired or revoked API key.",
    "403": "The caller's role or the key's scopes do not allow this.",
    "429": "A rate limit, quota or budget is exhausted.",
    "503": "A dependency (database, cache) is unavailable or saturated; retry after `Retry-After`.",
}
NOT_FOUND = "No such object in this organisation (another organisation's object is the same 404)."
TOO_LARGE = "The request body is larger than the server accepts."
UNSUPPORTED = "The body is not JSON (`Content-Type` other than `application/json`)."
PAST_THE_END = "A `page` past the last one, or not a page number."
CONFLICT = "The object's state does not allow this (a duplicate, the last owner, a pending review…)."


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if getattr(self.view, "explicit_errors", False):  # it lists its own, in its own shape (OpenAI's on /v1)
            return responses
        error = {"application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}}
        for status, description in self._error_statuses().items():
            if status not in responses:
                responses[status] = {"content": error, "description": description}
                if status in ("429", "503"):
                    responses[status]["headers"] = RETRY_AFTER
        return responses

    def _error_statuses(self) -> dict[str, str]:
        statuses = dict(SHARED)
        if "{" in self.path:
            statuses["404"] = NOT_FOUND
        elif self.method == "GET" and self._is_list_view() and self._get_paginator():
            statuses["404"] = PAST_THE_END
        if self.method in WITH_BODY:
            statuses["413"] = TOO_LARGE
            statuses["415"] = UNSUPPORTED
        if self.method in UNSAFE:
            statuses["409"] = CONFLICT
        return dict(sorted(statuses.items()))


NO_NUL = r"^[^\x00]*$"
# NOT_BLANK's search pattern, anchored so that it also says what every string says: no NUL.
NOT_BLANK_NO_NUL = r"^[^\x00]*[^\s\x00\u001c-\u001f\u0085][^\x00]*$"


def strings_without_nul(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A postprocessing hook: every free-text string in the schema says it holds no NUL, as the API
    (and PostgreSQL) refuse one; without it a fuzzer's valid request is one the server must refuse."""
    for schema in result.get("components", {}).get("schemas", {}).values():
        _forbid_nul(schema)
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                _forbid_nul(parameter.get("schema", {}))
    return result


def _forbid_nul(schema: Any) -> None:
    if isinstance(schema, list):
        for item in schema:
            _forbid_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and "format" not in schema and "enum" not in schema:
        pattern = schema.get("pattern")
        if pattern is None:
            schema["pattern"] = NO_NUL
        elif pattern == NOT_BLANK_PATTERN:
            schema["pattern"] = NOT_BLANK_NO_NUL
    for key in ("properties", "additionalProperties", "items", "allOf", "oneOf", "anyOf"):
        value = schema.get(key)
        if isinstance(value, dict) and key == "properties":
            for child in value.values():
                _forbid_nul(child)
        elif value is not None:
            _forbid_nul(value)
