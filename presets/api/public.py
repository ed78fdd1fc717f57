"""Routes outside any organisation URL: the public gallery and share links.

These are the only preset routes not under /orgs/{org_slug}/: the gallery shows presets that
an organisation and platform staff approved for everyone, and a link carries its own token.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from chatpresets.errors import Forbidden, NotFound, PresetNotApproved, PromptHidden
from presets.api import serializers as s
from presets.api.presenters import preset_detail
from presets.models import Level, Preset, Scope
from presets.search import search
from presets.selectors import Access, readable_version, version_content
from presets.services import lifecycle, sharing
from tenancy.api.base import UUID_REGEX
from tenancy.api.views import validated
from tenancy.models import ApiKey, Membership


class GalleryViewSet(mixins.ListModelMixin, GenericViewSet):
    """Approved public presets of every organisation, shown at their gallery-approved version."""

    serializer_class = s.PresetSummarySerializer
    lookup_value_regex = UUID_REGEX

    def get_queryset(self) -> QuerySet[Preset]:
        queryset = Preset.objects.alive().filter(scope=Scope.PUBLIC, public_approved_version__isnull=False)
        queryset = search(queryset.select_related("owner", "team"), self.request.query_params.get("q", ""))
        return queryset.order_by("-rank", "-updated_at")

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Full-text search")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=s.PresetDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        preset = self.get_queryset().filter(pk=pk).first()
        if preset is None:
            raise NotFound()
        return Response(preset_detail(preset, Access.VIEW, number=preset.public_approved_version))


def _link_access(level: str) -> Access:
    return Access.VIEW if level == Level.VIEW else Access.USE


class LinkView(GenericAPIView):
    """Open a share link: counts a use and shows the preset read-only (prompt hidden for `use` links)."""

    @extend_schema(responses=s.PresetDetailSerializer)
    def get(self, request: Request, token: str) -> Response:
        if isinstance(request.auth, ApiKey):
            raise Forbidden("Share links are opened by signed-in people, not API keys.")
        link = sharing.link_open(token=token, user=request.user)
        return Response(preset_detail(link.preset, _link_access(link.level)))


class LinkCloneView(GenericAPIView):
    serializer_class = s.LinkCloneSerializer  # OPTIONS describes the body from it

    @extend_schema(request=s.LinkCloneSerializer, responses={201: s.PresetDetailSerializer})
    def post(self, request: Request, token: str) -> Response:
        if isinstance(request.auth, ApiKey):
            raise Forbidden("Share links are opened by signed-in people, not API keys.")
        data = validated(self, s.LinkCloneSerializer)
        org = _target_org(request.user, data.pop("org", None))
        link = sharing.link_open(token=token, user=request.user)
        access = _link_access(link.level)
        if access < Access.VIEW:
            raise PromptHidden()
        number = readable_version(link.preset, access)
        if number is None:
            raise PresetNotApproved()
        content = version_content(preset_id=link.preset_id, number=number)
        clone = lifecycle.preset_clone(
            source=link.preset, content=content, version=number, org=org, actor=request.user, **data
        )
        return Response(preset_detail(clone, Access.MANAGE), status=status.HTTP_201_CREATED)


def _target_org(user: Any, slug: str | None) -> Any:
    memberships = Membership.objects.filter(user=user).select_related("org")
    if slug is not None:
        memberships = memberships.filter(org__slug=slug)
    chosen = list(memberships[:2])
    if len(chosen) != 1:
        raise NotFound("Name the organisation to clone into with `org` (one you belong to).")
    return chosen[0].org
