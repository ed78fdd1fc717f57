"""Versions of one preset: list, content of version N, and the diff between two versions.

Readers below `edit` see approved versions only; editors see every version.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import InvalidInput, NotFound
from presets.api import serializers as s
from presets.api.base import PresetChildViewSet
from presets.api.presenters import preset_detail
from presets.models import PresetVersion
from presets.prompt_reads import record_prompt_read
from presets.selectors import version_content, version_diff, versions_readable
from tenancy.permissions import Perm


class PresetVersionViewSet(mixins.ListModelMixin, PresetChildViewSet):
    model = PresetVersion
    serializer_class = s.PresetVersionSerializer
    lookup_field = "number"
    lookup_value_regex = "[0-9]+"
    action_permissions = {"list": Perm.PRESETS_READ, "retrieve": Perm.PRESETS_READ, "diff": Perm.PRESETS_READ}

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        preset, access = self.preset_at()
        readable = versions_readable(preset=preset, access=access).values("pk")
        return queryset.filter(pk__in=readable).select_related("author", "reviewer").order_by("-number")

    def version(self, number: Any) -> PresetVersion:
        version = self.get_queryset().filter(number=number).first()
        if version is None:
            raise NotFound()
        return version

    @extend_schema(responses=s.PresetDetailSerializer)
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        version = self.version(kwargs["number"])
        preset, access = self.preset_at()
        record_prompt_read(preset=preset, access=access, reader=request.user, versions=[version.number])
        body = preset_detail(preset, access, number=version.number)
        return Response({**body, "review": s.PresetVersionSerializer(version).data})

    @extend_schema(
        parameters=[OpenApiParameter("against", int, required=True, description="The version to compare with")],
        responses=inline_serializer(
            "PresetDiff", {"prompt_diff": serializers.CharField(), "changed": serializers.DictField()}
        ),
    )
    @action(detail=True)
    def diff(self, request: Request, **kwargs: Any) -> Response:
        against = request.query_params.get("against", "")
        if not against.isdigit():
            raise InvalidInput("?against= must be a version number.", details={"field": "against"})
        newer, older = self.version(kwargs["number"]), self.version(int(against))
        preset, access = self.preset_at()
        record_prompt_read(preset=preset, access=access, reader=request.user, versions=[older.number, newer.number])
        contents = [version_content(preset_id=preset.pk, number=v.number) for v in (older, newer)]
        labels = [f"v{older.number}", f"v{newer.number}"]
        return Response(
            version_diff(older=contents[0], newer=contents[1], older_label=labels[0], newer_label=labels[1])
        )
