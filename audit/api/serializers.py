"""The shape of one audit event as owners, admins and `audit:read` keys read it (list and export)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audit.models import AuditEvent


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="The user's id; null for the system")
    label = serializers.CharField(help_text="The username when the event was written")


class AuditApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    prefix = serializers.CharField(help_text="Empty if the key no longer exists")


class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="app_label.model, e.g. presets.preset")
    id = serializers.CharField()


class AuditEventSerializer(serializers.ModelSerializer):
    """Chain fields (`seq`, `prev_hash`, `hash`) are null on events written before the chain existed."""

    actor = serializers.SerializerMethodField()
    api_key = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    seq = serializers.SerializerMethodField()
    prev_hash = serializers.SerializerMethodField()
    hash = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor", "api_key", "action", "target", "payload", "ip", "request_id"]
        fields += ["seq", "prev_hash", "hash"]
        read_only_fields = fields

    @extend_schema_field(AuditActorSerializer(allow_null=True))
    def get_actor(self, event: AuditEvent) -> dict[str, Any] | None:
        if event.actor_user_id is None and not event.actor_label:
            return None
        return {"id": event.actor_user_id, "label": event.actor_label}

    @extend_schema_field(AuditApiKeySerializer(allow_null=True))
    def get_api_key(self, event: AuditEvent) -> dict[str, Any] | None:
        if event.actor_api_key_id is None:
            return None
        key = event.actor_api_key  # select_related by the selector; None once the key row is gone
        return {"id": str(event.actor_api_key_id), "prefix": key.prefix if key is not None else ""}

    @extend_schema_field(AuditTargetSerializer(allow_null=True))
    def get_target(self, event: AuditEvent) -> dict[str, Any] | None:
        return {"type": event.target_type, "id": event.target_id} if event.target_type else None

    # Read with getattr: the hash chain adds these columns, and the trail reads the same before it.
    @extend_schema_field({"type": "integer", "nullable": True})
    def get_seq(self, event: AuditEvent) -> int | None:
        return getattr(event, "seq", None)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_prev_hash(self, event: AuditEvent) -> str | None:
        return _text(getattr(event, "prev_hash", None))

    @extend_schema_field({"type": "string", "nullable": True})
    def get_hash(self, event: AuditEvent) -> str | None:
        return _text(getattr(event, "hash", None))


def _text(value: Any) -> str | None:
    """A hash stored as text or bytes, as hex text."""
    if value is None:
        return None
    return value.hex() if isinstance(value, bytes | memoryview) else str(value)
