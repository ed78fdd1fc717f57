"""Shapes of the tenancy API. Organisation, owner and role of the caller never come from a body."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chatpresets.validators import NOT_BLANK, NOT_BLANK_PATTERN
from tenancy.models import ApiKey, Membership, Organization, Role, Team, TeamMembership, User
from tenancy.permissions import Scope
from tenancy.selectors import user_by_identifier


class UserSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name"]
        read_only_fields = fields


class MembershipOrgSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="org.slug", read_only=True)
    name = serializers.CharField(source="org.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["slug", "name", "role"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    memberships = MembershipOrgSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff", "memberships"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "plan", "settings", "created_at"]
        read_only_fields = ["id", "plan", "created_at"]


class OrganizationUpdateSerializer(serializers.ModelSerializer):
    """The slug is part of every URL and links; it does not change after creation."""

    class Meta:
        model = Organization
        fields = ["name", "settings"]

    def validate_settings(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.", code="invalid")
        return value


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 254, "pattern": NOT_BLANK_PATTERN})
class UserIdentifierField(serializers.Field):
    """A username or e-mail address that must name an existing, active user."""

    default_error_messages = {
        "invalid": "Expected a username or e-mail address of at most 254 characters.",
        "null_characters": "Null characters are not allowed.",
        "unknown_user": "No active user with that username or e-mail address.",
    }

    def to_internal_value(self, data: Any) -> User:
        if not isinstance(data, str) or not data.strip() or len(data) > 254:
            self.fail("invalid")
        if "\x00" in data:
            self.fail("null_characters")
        user = user_by_identifier(data)
        if user is None:
            self.fail("unknown_user")
        return user

    def to_representation(self, value: User) -> str:
        return value.username


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at"]
        read_only_fields = ["id", "user", "created_at"]


class MemberAddSerializer(serializers.Serializer):
    user = UserIdentifierField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)


class TeamSerializer(serializers.ModelSerializer):
    slug = serializers.SlugField(max_length=63)
    description = serializers.CharField(allow_blank=True, required=False, max_length=5000)

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "created_at"]
        read_only_fields = ["id", "created_at"]


class TeamMemberSerializer(serializers.ModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = TeamMembership
        fields = ["id", "user", "is_lead", "created_at"]
        read_only_fields = ["id", "user", "created_at"]


class TeamMemberAddSerializer(serializers.Serializer):
    user = UserIdentifierField()
    is_lead = serializers.BooleanField(default=False)


class TeamMemberUpdateSerializer(serializers.Serializer):
    is_lead = serializers.BooleanField(required=False)


class ApiKeySerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "user",
            "scopes",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(validators=[NOT_BLANK], max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=[scope.value for scope in Scope]), min_length=1, max_length=20
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate_expires_at(self, value: Any) -> Any:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("The expiry must be in the future.", code="in_past")
        return value


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields
