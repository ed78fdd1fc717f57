"""Shapes of the conversations API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.models import Conversation, MessageStatus, Role
from presets.outside import published_version
from tenancy.org_settings import LABEL_PATTERN


@extend_schema_field(OpenApiTypes.UUID)
class PresetField(serializers.UUIDField):
    """A preset id; whether the caller may use it is decided by the service (404 otherwise)."""


class ConversationSerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True, allow_null=True)
    preset_via = serializers.CharField(
        read_only=True,
        help_text="`gallery` or `link` for another organisation's preset used that way; empty for your own.",
    )
    newer_version_available = serializers.SerializerMethodField()
    experiment = serializers.UUIDField(
        source="experiment_id",
        read_only=True,
        allow_null=True,
        help_text="The experiment this conversation joined when it started (its preset version is the variant's).",
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "preset",
            "preset_version",
            "preset_label",
            "preset_via",
            "experiment",
            "variables",
            "model_override",
            "params_override",
            "summary_through_seq",
            "newer_version_available",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_newer_version_available(self, obj: Conversation) -> bool:
        """Newer than the pinned version, by what the conversation's route shows (never an unpublished one)."""
        preset = obj.preset
        if preset is None or obj.preset_version is None:
            return False
        newest = published_version(preset, obj.preset_via) if obj.preset_via else preset.approved_version
        return newest is not None and newest > obj.preset_version


class ConversationCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    preset = PresetField(required=False, allow_null=True, default=None)
    preset_version = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    preset_label = serializers.RegexField(
        f"^({LABEL_PATTERN})?$",  # blank: no label
        required=False,
        allow_blank=True,
        default="",
        help_text="Follow this label of the preset (its version is read at every turn) instead of a pinned version.",
    )
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
    model_override = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    params_override = serializers.JSONField(required=False, default=dict)


class ConversationUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, allow_blank=True, required=False)


class ApplyPresetSerializer(serializers.Serializer):
    preset = PresetField(allow_null=True)
    version = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["preset"] is None and attrs.get("version") is not None:
            raise serializers.ValidationError("A version needs a preset.", code="version_without_preset")
        return attrs


class MessageSerializer(serializers.Serializer):
    """A stored message as `payloads.message_payload` writes it (REST, server-sent events, websocket)."""

    id = serializers.UUIDField()
    conversation = serializers.UUIDField()
    seq = serializers.IntegerField(min_value=1)
    role = serializers.ChoiceField(choices=Role.choices)
    content = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=MessageStatus.choices)
    error_code = serializers.CharField(allow_blank=True, help_text="Why an answer failed; empty otherwise.")
    token_count = serializers.IntegerField(min_value=0)
    model = serializers.CharField(allow_blank=True)
    preset_version = serializers.IntegerField(allow_null=True)
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)
    ttft_ms = serializers.IntegerField(allow_null=True, help_text="Time to first token, as the caller waited it.")
    total_ms = serializers.IntegerField(allow_null=True)
    finish_reason = serializers.CharField(allow_blank=True)
    client_id = serializers.CharField(allow_blank=True)
    superseded = serializers.BooleanField(help_text="Replaced by a regenerated answer or an edited question.")
    pii = serializers.DictField(help_text='What the PII guardrail found: {"mode", "entities": {"EMAIL": 1, …}}.')
    created_at = serializers.DateTimeField(allow_null=True)


class MessagePageSerializer(serializers.Serializer):
    """Up to 100 messages, oldest first; `before_seq` pages back."""

    results = MessageSerializer(many=True)
    has_more = serializers.BooleanField()


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would also take 12 or 1.5 and keep their text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """`true` or `false` only: DRF's BooleanField would also take "yes", "on", 1 and "1"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# What the services refuse beyond the field checks, told to schema readers (and fuzzers): a message
# with no visible character is "empty", a NUL cannot be stored, and MESSAGE_MAX_CHARS is `too_large`.
MESSAGE_CONTENT = {
    "type": "string",
    "minLength": 1,
    "maxLength": settings.MESSAGE_MAX_CHARS,
    "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$",
    "description": "The message: at least one non-space character, no NUL, at most MESSAGE_MAX_CHARS.",
}
# `+`, not `*`: drf-spectacular adds "or empty" to a blank-allowed pattern, and oneOf needs them disjoint.
CLIENT_ID = {"type": "string", "maxLength": 100, "pattern": r"^[^\x00]+$"}


@extend_schema_field(MESSAGE_CONTENT)
class MessageContentField(StrictCharField):
    pass


@extend_schema_field(CLIENT_ID)
class ClientIdField(StrictCharField):
    pass


class SendMessageSerializer(serializers.Serializer):
    # MESSAGE_MAX_CHARS is checked where every transport meets (services._new_turn): one code, `too_large`.
    content = MessageContentField(trim_whitespace=False)
    stream = StrictBooleanField(default=False, help_text="Answer as server-sent events instead of one JSON body.")
    client_id = ClientIdField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Makes a retry safe, like the `Idempotency-Key` header (which wins when both are sent).",
    )


class RegenerateSerializer(serializers.Serializer):
    """Regenerate answers the last question again: it takes no content, and no client id."""

    stream = StrictBooleanField(default=False, help_text="Answer as server-sent events instead of one JSON body.")


class OutsideConversationSerializer(serializers.Serializer):
    """A conversation in one of your organisations with a preset shown by the gallery or a link."""

    org = serializers.SlugField(
        required=False, help_text="Slug of your organisation to chat in (needed if you have several)."
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    variables = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)
