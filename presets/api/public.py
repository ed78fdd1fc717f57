"""Routes outside any organisation URL: the public gallery and share links.

These are the only preset routes not under /orgs/{org_slug}/: the gallery shows presets that
an organisation and platform staff approved for everyone, and a link carries its own token.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from chatpresets.errors import Forbidden, NotFound
from presets.api import serializers as s
from presets.api.presenters import preset_detail
from presets.models import Preset
from presets.outside import gallery_presets, link_access
from presets.search import search
from presets.selectors import Access
from presets.services import outside, sharing
from tenancy.api.base import UUID_REGEX, membership_acting_in
from tenancy.api.views import validated
from tenancy.models import ApiKey
from tenancy.permissions import Perm


class GalleryViewSet(mixins.ListModelMixin, GenericViewSet):
    """Approved public presets of every organisation, shown at their gallery-approved version."""

    serializer_class = s.GallerySummarySerializer
    lookup_value_regex = UUID_REGEX

    def get_queryset(self) -> QuerySet[Preset]:
        queryset = gallery_presets().select_related("owner", "team")
        queryset = search(queryset, self.request.query_params.get("q", ""))
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

    @extend_schema(request=s.CloneIntoOrgSerializer, responses={201: s.PresetDetailSerializer})
    @action(detail=True, methods=["post"], serializer_class=s.CloneIntoOrgSerializer)
    def clone(self, request: Request, pk: str) -> Response:
        """Copy the gallery's version into one of your organisations (`presets.write` there), privately."""
        data = validated(self, s.CloneIntoOrgSerializer)
        membership = membership_acting_in(request, data.pop("org", None), Perm.PRESETS_WRITE)
        clone = outside.gallery_clone(preset_id=pk, membership=membership, **data)
        return Response(preset_detail(clone, Access.MANAGE), status=status.HTTP_201_CREATED)


class LinkView(GenericAPIView):
    """Open a share link: counts one use per person and shows the preset read-only (prompt hidden for `use` links)."""

    @extend_schema(responses=s.PresetDetailSerializer)
    def get(self, request: Request, token: str) -> Response:
        refuse_api_keys(request)
        link = sharing.link_open(token=token, user=request.user)
        return Response(preset_detail(link.preset, link_access(link.level)))


class LinkCloneView(GenericAPIView):
    serializer_class = s.CloneIntoOrgSerializer  # OPTIONS describes the body from it

    @extend_schema(request=s.CloneIntoOrgSerializer, responses={201: s.PresetDetailSerializer})
    def post(self, request: Request, token: str) -> Response:
        refuse_api_keys(request)
        data = validated(self, s.CloneIntoOrgSerializer)
        membership = membership_acting_in(request, data.pop("org", None), Perm.PRESETS_WRITE)
        clone = outside.link_clone(token=token, membership=membership, **data)
        return Response(preset_detail(clone, Access.MANAGE), status=status.HTTP_201_CREATED)


def refuse_api_keys(request: Request) -> None:
    """A link is handed from person to person; a key's holder is a program, which nobody handed it to."""
    if isinstance(request.auth, ApiKey):
        raise Forbidden("Share links are opened by signed-in people, not API keys.")
