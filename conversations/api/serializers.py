"""Shapes of the conversations API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.models import Conversation


@extend_schema_field(OpenApiTypes.UUID)
class PresetField(serializers.UUIDField):
    """A preset id; whether the caller may use it is decided by the service (404 otherwise)."""


class ConversationSerializer(serializers.ModelSerializer):
    preset = serializers.UUIDField(source="preset_id", read_only=True, allow_null=True)
    newer_version_available = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "preset",
            "preset_version",
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
        preset = obj.preset
        if preset is None or obj.preset_version is None or preset.approved_version is None:
            return False
        return preset.approved_version > obj.preset_version


class ConversationCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    preset = PresetField(required=False, allow_null=True, default=None)
    preset_version = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)
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
    id = serializers.UUIDField()
    seq = serializers.IntegerField()
    role = serializers.CharField()
    content = serializers.CharField()
    status = serializers.CharField()


class SendMessageSerializer(serializers.Serializer):
    # MESSAGE_MAX_CHARS is checked where every transport meets (services._new_turn): one code, `too_large`.
    content = serializers.CharField(trim_whitespace=False)
    stream = serializers.BooleanField(default=False)
    client_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
