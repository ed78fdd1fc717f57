"""The bodies of /v1/chat/completions and /v1/models, as the OpenAPI schema describes them.

openai_compat.py and openai_params.py check and build these by hand, the way OpenAI's API does;
these serializers only describe them (null means absent for every optional parameter, as there).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from chatpresets.openapi import ErrorDetailSerializer
from conversations.api.openai_params import MAX_STOP_SEQUENCES
from conversations.api.schema_shapes import constant, documented_as

STOP = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOP_SEQUENCES},
    ],
    "nullable": True,
    "description": f"Where the model stops: one string, or at most {MAX_STOP_SEQUENCES}.",
}
ROLE = {"type": "string", "enum": ["system", "user", "assistant"]}
NO_NUL = {"type": "string", "pattern": r"^[^\x00]*$"}


class ChatMessageSerializer(serializers.Serializer):
    role = documented_as(ROLE)
    content = serializers.CharField(allow_blank=True)


class StreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False, help_text="End the stream with a usage chunk.")


def optional_number(lowest: float, highest: float) -> serializers.FloatField:
    return serializers.FloatField(required=False, allow_null=True, min_value=lowest, max_value=highest)


def answer_limit() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="At most this many tokens (capped by the model)."
    )


class ChatCompletionCreateSerializer(serializers.Serializer):
    model = documented_as(
        NO_NUL,
        help_text="A catalogue model the organisation allows, or a preset: `preset:<slug>` or "
        "`preset:<slug>@<version>` or `preset:<slug>#<label>` (GET /v1/models lists them).",
    )
    messages = serializers.ListField(
        child=ChatMessageSerializer(),
        min_length=1,
        max_length=settings.COMPLETIONS_MAX_MESSAGES,
        help_text="At most COMPLETIONS_MAX_MESSAGES messages of at most COMPLETIONS_MAX_CHARS characters together.",
    )
    stream = serializers.BooleanField(required=False, allow_null=True)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    max_tokens = answer_limit()
    max_completion_tokens = answer_limit()
    temperature = optional_number(0, 2)
    top_p = optional_number(0, 1)
    presence_penalty = optional_number(-2, 2)
    frequency_penalty = optional_number(-2, 2)
    stop = documented_as(STOP, required=False, allow_blank=True)
    n = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1)
    user = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        allow_null=True,
        help_text="The preset's variable values, for a `preset:` model.",
    )


class AssistantMessageSerializer(serializers.Serializer):
    role = constant("assistant")
    content = serializers.CharField(allow_blank=True)


class CompletionChoiceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    message = AssistantMessageSerializer()
    finish_reason = serializers.CharField()


class CompletionUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)
    total_tokens = serializers.IntegerField(min_value=0)


class ChatCompletionSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = constant("chat.completion")
    created = serializers.IntegerField(help_text="Unix seconds.")
    model = serializers.CharField(help_text="The name the request used.")
    choices = CompletionChoiceSerializer(many=True)
    usage = CompletionUsageSerializer()


class ChunkDeltaSerializer(serializers.Serializer):
    """The first delta names the role, the next ones carry text, the last one is empty."""

    role = constant("assistant", required=False)
    content = serializers.CharField(allow_blank=True, required=False)


class ChunkChoiceSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    delta = ChunkDeltaSerializer()
    finish_reason = serializers.CharField(allow_null=True)


class ChatCompletionChunkSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = constant("chat.completion.chunk")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = ChunkChoiceSerializer(many=True, help_text="Empty in the closing usage chunk.")
    usage = CompletionUsageSerializer(required=False, help_text="Only in the closing chunk, with `include_usage`.")


class ModelEntrySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="A catalogue model, or `preset:<slug>` for an approved preset.")
    object = constant("model")
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelListSerializer(serializers.Serializer):
    object = constant("list")
    data = ModelEntrySerializer(many=True)


OPENAI_ERROR_TYPE = {
    "type": "string",
    "enum": [
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "rate_limit_error",
        "service_unavailable_error",
    ],
}


class OpenAIErrorDetailSerializer(ErrorDetailSerializer):
    type = documented_as(OPENAI_ERROR_TYPE, help_text="OpenAI's error class.")
    param = serializers.CharField(allow_null=True, help_text="The request field at fault, or null.")


class OpenAIErrorSerializer(serializers.Serializer):
    """The one error shape, plus OpenAI's `type` and `param`, so its clients classify the error."""

    error = OpenAIErrorDetailSerializer()


class StreamFailureSerializer(serializers.Serializer):
    """The answer failed after the stream began: this event ends it (no final chunk, no `[DONE]`)."""

    error = OpenAIErrorDetailSerializer()


COMPLETION_STREAM_EVENT = PolymorphicProxySerializer(
    component_name="CompletionStreamEvent",
    serializers=[ChatCompletionChunkSerializer, StreamFailureSerializer],
    resource_type_field_name=None,
)


COMPLETION_STREAM = OpenApiResponse(
    COMPLETION_STREAM_EVENT,
    description=(
        'With `"stream": true`: server-sent events whose `data:` lines are `chat.completion.chunk` objects '
        "(the first delta carries the role, the last one `finish_reason`), then, with "
        "`stream_options.include_usage`, a chunk with empty `choices` and `usage`, and finally the line "
        '`data: [DONE]`. A model failure after the stream began sends `data: {"error": {"code", "message", "details", '
        '"type", "param"}}` instead (an answer the model cut short is `upstream_interrupted`) and ends the stream.'
    ),
)
