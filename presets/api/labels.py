"""Labels of one preset: list, read, move (PUT) and delete. The rules are presets.labels'."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from presets import labels
from presets.api.base import PresetChildViewSet
from presets.models import PresetLabel
from presets.selectors import Access
from tenancy.api.views import validated
from tenancy.org_settings import LABEL_PATTERN
from tenancy.permissions import Perm


class LabelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField(min_value=1)
    protected = serializers.BooleanField(help_text="Moving it needs the right to approve the preset's versions.")
    implicit = serializers.BooleanField(
        help_text="`production` that nobody moved: it follows the newest approved version."
    )
    moved_by = serializers.CharField(allow_blank=True, help_text="Username of who moved it last; empty if implicit.")
    moved_at = serializers.DateTimeField(allow_null=True)


class LabelMoveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2_147_483_647)


class PresetLabelViewSet(PresetChildViewSet):
    """`production` always exists once a version is approved; other labels once moved."""

    model = PresetLabel
    serializer_class = LabelSerializer
    minimum_access = Access.USE  # labels name versions, never show a prompt: those who run it may read them
    lookup_field = "name"
    lookup_value_regex = LABEL_PATTERN
    pagination_class = None  # a preset has a handful of labels, answered whole
    action_permissions = {
        "list": Perm.PRESETS_READ,
        "retrieve": Perm.PRESETS_READ,
        "update": Perm.PRESETS_WRITE,
        "destroy": Perm.PRESETS_WRITE,
    }

    @extend_schema(responses=LabelSerializer(many=True))
    def list(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        return Response(LabelSerializer(labels.labels_of(preset=preset), many=True).data)

    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        found = [view for view in labels.labels_of(preset=preset) if view.name == kwargs["name"]]
        if not found:
            raise labels.LabelNotFound(details={"label": kwargs["name"]})
        return Response(LabelSerializer(found[0]).data)

    @extend_schema(request=LabelMoveSerializer, responses=LabelSerializer)
    def update(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        data = validated(self, LabelMoveSerializer)
        labels.label_move(preset=preset, name=kwargs["name"], version=data["version"], actor=request.user)
        return self.retrieve(request, **kwargs)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()
        labels.label_delete(preset=preset, name=kwargs["name"], actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
