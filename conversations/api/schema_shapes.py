"""The bodies the chat turn routes answer with, as the OpenAPI schema describes them.

send.py, turns.py and payloads.py build these by hand (JSON answers, server-sent events); the
serializers here only describe them, and tests/conversations/test_schema_bodies.py holds real
answers against the generated schema so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from chatpresets.openapi import ErrorSerializer
from conversations.api.serializers import MessageSerializer


def documented_as(schema: dict[str, Any], base: type[serializers.Field] = serializers.CharField, **kwargs: Any) -> Any:
    """A field the schema shows as `schema` (drf-spectacular reads the annotation from the field's class)."""
    return extend_schema_field(schema)(type("DocumentedField", (base,), {}))(**kwargs)


def constant(value: str, *, required: bool = True) -> serializers.CharField:
    """A string field that always holds `value` (an event's `type`, an object's kind)."""
    return documented_as({"type": "string", "enum": [value]}, required=required)


AMOUNT = {"oneOf": [{"type": "integer"}, {"type": "string", "format": "decimal"}]}


class QuotaWarningSerializer(serializers.Serializer):
    code = constant("soft_limit_reached")
    limit = serializers.CharField()
    percent = serializers.FloatField()
    used = documented_as(AMOUNT, help_text="Tokens, or a cost as a decimal string.")
    budget = documented_as(AMOUNT)
    reset_at = serializers.DateTimeField()


class TurnResultSerializer(serializers.Serializer):
    user_message = MessageSerializer()
    message = MessageSerializer(help_text="The answer.")
    warnings = QuotaWarningSerializer(many=True, required=False, help_text="Soft limits this answer reached.")


class TurnUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)
    total_tokens = serializers.IntegerField(min_value=0)
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)


class AckEventSerializer(serializers.Serializer):
    type = constant("ack")
    message = MessageSerializer(help_text="The stored question.")
    request_id = serializers.CharField(
        help_text="The turn's request id, as the response's `X-Request-ID`: its log lines and audit events carry it."
    )


class DeltaEventSerializer(serializers.Serializer):
    type = constant("delta")
    message_id = serializers.UUIDField(help_text="The answer being written.")
    seq = serializers.IntegerField(min_value=1, help_text="1, 2, 3… per answer.")
    text = serializers.CharField(help_text="The next piece of the answer.")


class DoneEventSerializer(serializers.Serializer):
    type = constant("done")
    message = MessageSerializer(help_text="The stored answer.")
    usage = TurnUsageSerializer(required=False, help_text="Absent when an idempotent retry replays the answer.")
    warnings = QuotaWarningSerializer(many=True, required=False)
    timing = serializers.DictField(
        child=serializers.FloatField(min_value=0),
        required=False,
        help_text=(
            "Where the service's time went, in milliseconds: caller, context, guardrails, upstream_ttft, "
            "first_token, persistence, total (docs/websocket.md). Absent on a replay."
        ),
    )


class ErrorEventSerializer(serializers.Serializer):
    type = constant("error")
    code = serializers.CharField(help_text="docs/errors.md lists every code.")
    message = serializers.CharField()
    details = serializers.DictField()
    request_id = serializers.CharField(help_text="The turn's request id (as in its `ack`), to quote in a report.")


TURN_EVENT = PolymorphicProxySerializer(
    component_name="TurnEvent",
    serializers={
        "ack": AckEventSerializer,
        "delta": DeltaEventSerializer,
        "done": DoneEventSerializer,
        "error": ErrorEventSerializer,
    },
    resource_type_field_name="type",
)

STREAM = (
    'With `"stream": true`: server-sent events, each `event: <type>` and `data: <JSON>` with the payload '
    "described here. `ack` (the stored question) comes first, then `delta` events with the answer's text, and "
    "the stream ends with `done` (the stored answer) or `error`."
)
STREAM_OR_REPLAY = (
    f"{STREAM} A retry with a used idempotency key gets `ack` and `done` at once, or, without `stream`, "
    "the first result as JSON, unchanged."
)


RETRY_AFTER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, response=[429, 503], description="Seconds to wait before retrying."
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], description="`Bearer`: send an API key."
)

# What each status means on the chat routes, from the code paths that answer it.
STATUS_MEANINGS = {
    400: "Invalid input: not JSON (`parse_error`), a field (`invalid`, `details.fields`), a message over "
    "MESSAGE_MAX_CHARS (`too_large`), a prompt over the context window (`context_too_long`), personal "
    "data the organisation blocks (`pii_blocked`), a model the catalogue does not have (`unknown_model`).",
    401: "No credentials (`not_authenticated`), or an invalid, expired or revoked API key (`authentication_failed`).",
    403: "The role or the key's scopes do not allow chat, the model is not allowed here, or a session request "
    "without the CSRF token (`permission_denied`, `model_not_allowed`).",
    404: "No such organisation or conversation for this caller (another organisation's is the same 404).",
    409: "An answer is still being written (`turn_in_progress`), there is no question to answer again or "
    "edit (`invalid_state`), or the preset has no approved version (`preset_not_approved`).",
    413: "The body is over REQUEST_BODY_MAX_BYTES (`request_too_large`), or this call alone needs more than a "
    "limit allows (`request_too_large_for_limit`).",
    422: "The idempotency key was used with a different message (`idempotency_key_reused`).",
    429: "A rate limit, quota or budget is exhausted (`rate_limited`, `quota_exceeded`, `budget_exceeded`), or "
    "too many failed API key attempts from this address (`too_many_failed_attempts`).",
    502: "The model server refused the call (`upstream_rejected`).",
    503: "The process has no stream slot for the turn, or the organisation holds its share of them (`overloaded`); "
    "the model (`model_unavailable`), the quota store (`quota_store_unavailable`), the database or Redis "
    "(`service_unavailable`) cannot serve now; retry after `Retry-After`.",
}


def error_responses(statuses: list[int], shape: Any = ErrorSerializer) -> dict[int, OpenApiResponse]:
    return {status: OpenApiResponse(shape, description=STATUS_MEANINGS[status]) for status in statuses}
