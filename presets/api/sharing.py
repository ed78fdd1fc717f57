"""Grants of one preset to members and teams, and its share links."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import InvalidInput
from presets.api import serializers as s
from presets.api.base import PresetChildViewSet
from presets.models import Preset, PresetLink
from presets.selectors import Access
from presets.services import sharing
from tenancy.api.base import UUID_REGEX
from tenancy.api.views import validated
from tenancy.models import Membership
from tenancy.permissions import Perm
from tenancy.selectors import user_by_identifier


class PresetShareViewSet(PresetChildViewSet):
    """Who the preset is shared with. Ids look like `user-12` or `team-<uuid>`."""

    model = Preset
    serializer_class = s.ShareSerializer
    minimum_access = Access.MANAGE
    lookup_field = "principal"
    lookup_value_regex = f"(?:user-[0-9]+|team-{UUID_REGEX})"
    pagination_class = None  # a preset's grants are few and answered whole; the schema must not offer pages
    action_permissions = {"list": Perm.PRESETS_WRITE, "create": Perm.PRESETS_WRITE, "destroy": Perm.PRESETS_WRITE}

    @extend_schema(responses=s.ShareSerializer(many=True))
    def list(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        return Response(s.ShareSerializer(sharing.shares_of(preset), many=True).data)

    @extend_schema(request=s.ShareGrantSerializer, responses={201: s.ShareSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        data = validated(self, s.ShareGrantSerializer)
        user = self.member(data["user"]) if "user" in data else None
        share = sharing.share_grant(
            preset=preset, actor=request.user, level=data["level"], user=user, team=data.get("team")
        )
        return Response(s.ShareSerializer(share).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        sharing.share_revoke(preset=preset, actor=request.user, key=kwargs["principal"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    def member(self, identifier: str) -> Any:
        user = user_by_identifier(identifier)
        if user is None or not Membership.objects.for_org(self.org).filter(user=user).exists():
            raise InvalidInput(
                "No member of this organisation with that username or e-mail.", details={"field": "user"}
            )
        return user


class PresetLinkViewSet(mixins.ListModelMixin, PresetChildViewSet):
    model = PresetLink
    serializer_class = s.LinkSerializer
    minimum_access = Access.MANAGE
    action_permissions = {"list": Perm.PRESETS_WRITE, "create": Perm.PRESETS_WRITE, "destroy": Perm.PRESETS_WRITE}

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        preset, _ = self.preset_at()
        return queryset.filter(preset=preset).select_related("created_by")

    @extend_schema(request=s.LinkCreateSerializer, responses={201: s.LinkCreatedSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        link, token = sharing.link_create(preset=preset, actor=request.user, **validated(self, s.LinkCreateSerializer))
        link.token = token
        return Response(s.LinkCreatedSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.LinkSerializer})  # revoked, not gone: the link is shown
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        link = sharing.link_revoke(link=self.get_object(), actor=request.user)
        return Response(s.LinkSerializer(link).data)
