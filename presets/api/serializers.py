"""Shapes of the presets API. Owner, organisation, status and versions never come from a body."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from chatpresets.validators import NOT_BLANK
from presets.models import (
    LINK_LEVEL_CHOICES,
    Audience,
    Level,
    Library,
    LibraryKind,
    Preset,
    PresetLink,
    PresetVersion,
    Scope,
)
from presets.selectors import version_content
from tenancy.models import Team

TAG = serializers.CharField(validators=[NOT_BLANK], max_length=50)


class PresetSummarySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    team = serializers.CharField(source="team.slug", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Preset
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "tags",
            "scope",
            "team",
            "owner",
            "model",
            "version",
            "status",
            "approved_version",
            "public_approved_version",
            "forked_from",
            "forked_from_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class GallerySummarySerializer(PresetSummarySerializer):
    """A gallery entry: its model is the gallery version's, never that of a draft the owner has not published."""

    model = serializers.SerializerMethodField()

    def get_model(self, obj: Preset) -> str | None:
        content = version_content(preset_id=obj.pk, number=obj.public_approved_version)
        return content["model"] if content else None


class PresetDetailSerializer(PresetSummarySerializer):
    """A preset with the content of the version this reader may see (prompt hidden for `use`)."""

    access = serializers.SerializerMethodField()
    content_version = serializers.SerializerMethodField()
    system_prompt = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()
    variables = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()
    model = serializers.SerializerMethodField()

    class Meta(PresetSummarySerializer.Meta):
        fields = [
            *PresetSummarySerializer.Meta.fields,
            "access",
            "content_version",
            "system_prompt",
            "params",
            "variables",
            "policy",
            "deleted_at",
        ]
        read_only_fields = fields

    def _content(self) -> dict[str, Any]:
        # None when the reader may see no version yet (below `edit`, nothing approved).
        return self.context["content"] or dict.fromkeys(("system_prompt", "params", "variables", "policy", "model"))

    def get_access(self, obj: Preset) -> str:
        return self.context["access"].name.lower()

    def get_content_version(self, obj: Preset) -> int | None:
        return self.context["content_version"]

    def get_system_prompt(self, obj: Preset) -> str | None:
        return None if self.context.get("prompt_hidden") else self._content()["system_prompt"]

    def get_params(self, obj: Preset) -> dict[str, Any] | None:
        return self._content()["params"]

    def get_variables(self, obj: Preset) -> list[dict[str, Any]] | None:
        return self._content()["variables"]

    def get_policy(self, obj: Preset) -> dict[str, Any] | None:
        return self._content()["policy"]

    def get_model(self, obj: Preset) -> str | None:
        return self._content()["model"]


@extend_schema_field(OpenApiTypes.UUID)
class TeamField(serializers.PrimaryKeyRelatedField):
    """A team of the URL's organisation, by id; other organisations' teams do not exist here."""

    def get_queryset(self) -> Any:
        org = self.context.get("org")
        return Team.objects.for_org(org) if org is not None else Team.objects.none()

    def run_validation(self, data: Any = empty) -> Any:
        # DRF reads "" as null for HTML forms; in JSON it is a string that is not a team's id.
        if data == "":
            self.fail("incorrect_type", data_type="empty string")
        return super().run_validation(data)


class PresetWriteSerializer(serializers.Serializer):
    name = serializers.CharField(validators=[NOT_BLANK], max_length=200)
    slug = serializers.SlugField(max_length=100)
    description = serializers.CharField(allow_blank=True, required=False, max_length=5000)
    tags = serializers.ListField(child=TAG, required=False, max_length=20)
    scope = serializers.ChoiceField(choices=Scope.choices, required=False)
    team = TeamField(required=False, allow_null=True)
    # Its size limits (PRESET_PROMPT_MAX_CHARS, placeholders) are checked by the service: one code, `too_large`.
    system_prompt = serializers.CharField(trim_whitespace=False)
    model = serializers.CharField(max_length=100)
    params = serializers.JSONField(required=False)
    variables = serializers.JSONField(required=False)
    policy = serializers.JSONField(required=False)
    change_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class PresetVersionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = PresetVersion
        fields = [
            "number",
            "author",
            "change_reason",
            "status",
            "submitted_at",
            "reviewer",
            "reviewed_at",
            "review_comment",
            "findings",
            "staff_approved_at",
            "created_at",
        ]
        read_only_fields = fields


class ReviewQueueItemSerializer(PresetVersionSerializer):
    preset = PresetSummarySerializer(read_only=True)

    class Meta(PresetVersionSerializer.Meta):
        fields = [*PresetVersionSerializer.Meta.fields, "preset"]
        read_only_fields = fields


class ApproveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    comment = serializers.CharField(allow_blank=True, required=False, default="", max_length=5000)


class RejectSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    comment = serializers.CharField(validators=[NOT_BLANK], max_length=5000)


class RevertSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class CloneSerializer(serializers.Serializer):
    name = serializers.CharField(validators=[NOT_BLANK], max_length=200, required=False)


class CloneIntoOrgSerializer(CloneSerializer):
    org = serializers.SlugField(
        required=False, help_text="Slug of your organisation to clone into (needed if you have several)."
    )


class ShareSerializer(serializers.Serializer):
    id = serializers.CharField(source="key", read_only=True)
    kind = serializers.CharField(read_only=True)
    principal_id = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    level = serializers.ChoiceField(choices=Level.choices, read_only=True)


class ShareGrantSerializer(serializers.Serializer):
    user = serializers.CharField(required=False, max_length=254, help_text="Username or e-mail of a member.")
    team = TeamField(required=False)
    level = serializers.ChoiceField(choices=Level.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("user" in attrs) == ("team" in attrs):
            raise serializers.ValidationError("Give exactly one of user or team.", code="one_principal")
        return attrs


class LinkSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = PresetLink
        fields = [
            "id",
            "level",
            "audience",
            "expires_at",
            "max_uses",
            "uses",
            "created_by",
            "created_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_is_active(self, obj: PresetLink) -> bool:
        exhausted = obj.max_uses is not None and obj.uses >= obj.max_uses
        expired = obj.expires_at is not None and obj.expires_at <= timezone.now()
        return obj.revoked_at is None and not exhausted and not expired


class LinkCreatedSerializer(LinkSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; the link is /api/v1/links/{token}/.")

    class Meta(LinkSerializer.Meta):
        fields = [*LinkSerializer.Meta.fields, "token"]
        read_only_fields = fields


class LinkCreateSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=LINK_LEVEL_CHOICES, default=Level.VIEW)
    audience = serializers.ChoiceField(choices=Audience.choices, default=Audience.ORG)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    max_uses = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.", code="in_past")
        return value


class LibrarySerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    team = TeamField(required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=LibraryKind.choices, default=LibraryKind.PERSONAL)
    description = serializers.CharField(allow_blank=True, required=False, max_length=5000)

    class Meta:
        model = Library
        fields = ["id", "name", "description", "kind", "team", "owner", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class LibraryDetailSerializer(LibrarySerializer):
    presets = serializers.SerializerMethodField()

    class Meta(LibrarySerializer.Meta):
        fields = [*LibrarySerializer.Meta.fields, "presets"]
        read_only_fields = fields

    def get_presets(self, obj: Library) -> list[dict[str, Any]]:
        return PresetSummarySerializer(self.context["presets"], many=True).data


class LibraryItemsSerializer(serializers.Serializer):
    presets = serializers.ListField(child=serializers.UUIDField(), max_length=500)


class LibraryUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(validators=[NOT_BLANK], max_length=200, required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=5000)
