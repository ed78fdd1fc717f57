"""Preset endpoints: list/search, create, read, edit, delete, trash, restore, clone, review actions."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import Forbidden, NotFound, PresetNotApproved, SafetyFindingsBlocked
from chatpresets.openapi import ERROR
from presets.api import serializers as s
from presets.api.base import PresetChildViewSet
from presets.api.presenters import preset_detail
from presets.filters import PresetFilter
from presets.models import Preset
from presets.prompt_reads import record_prompt_read
from presets.search import ranked_page, search
from presets.selectors import Access, readable_version, trash_q, version_content, visibility_q
from presets.services import lifecycle, review
from tenancy.api.views import validated
from tenancy.permissions import Perm

READ, WRITE = Perm.PRESETS_READ, Perm.PRESETS_WRITE


class PresetViewSet(mixins.ListModelMixin, PresetChildViewSet):
    """Presets of the organisation that the caller can see. `?q=` searches name, tags, description, prompt."""

    model = Preset
    serializer_class = s.PresetSummarySerializer
    filterset_class = PresetFilter
    preset_url_kwarg = "pk"
    action_permissions = {
        "list": READ,
        "retrieve": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "destroy": WRITE,
        "trash": WRITE,
        "restore": WRITE,
        "clone": WRITE,
        "review_queue": WRITE,
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.select_related("owner", "team")
        if self.action == "trash":
            # Ranked like any list (0 here), so the filters' `?ordering=rank` sorts instead of failing.
            return search(queryset.trashed().filter(trash_q(self.membership)), "").order_by("-deleted_at")
        text = self.request.query_params.get("q", "")
        visible = queryset.alive().filter(visibility_q(self.membership, indexable=bool(text.strip())))
        queryset = search(visible, text)
        if not text.strip():
            return queryset
        if connection.vendor == "postgresql" and "ordering" not in self.request.query_params:
            self.page_loader = self._ranked_page
        return queryset.order_by("-rank", "-updated_at")

    @staticmethod
    def _ranked_page(queryset: QuerySet, offset: int, limit: int) -> tuple[list[Preset], int]:
        return ranked_page(queryset, offset=offset, limit=limit)

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Full-text search")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.PresetWriteSerializer, responses={201: s.PresetDetailSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.PresetWriteSerializer)
        reason = data.pop("change_reason", "") or "created"
        preset = lifecycle.preset_create(org=self.org, actor=request.user, change_reason=reason, **data)
        return Response(preset_detail(preset, Access.MANAGE), status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.PresetDetailSerializer)
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        preset, access = self.preset_at(Access.USE)
        record_prompt_read(
            preset=preset, access=access, reader=request.user, versions=[readable_version(preset, access)]
        )
        return Response(preset_detail(preset, access))

    @extend_schema(request=s.PresetWriteSerializer, responses=s.PresetDetailSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        preset, access = self.preset_at(Access.EDIT)
        data = validated(self, s.PresetWriteSerializer, partial=True)
        if {"scope", "team"} & set(data) and access < Access.MANAGE:
            raise Forbidden("Only the preset's owner or an org admin changes its scope or team.")
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            preset = lifecycle.preset_update(preset=preset, actor=request.user, **data)
        return Response(preset_detail(preset, access))

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at(Access.MANAGE)
        lifecycle.preset_delete(preset=preset, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=s.PresetSummarySerializer(many=True))
    @action(detail=False)
    def trash(self, request: Request, **kwargs: Any) -> Response:
        return super().list(request, **kwargs)

    @extend_schema(request=None, responses=s.PresetDetailSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, **kwargs: Any) -> Response:
        preset = Preset.objects.for_org(self.org).trashed().filter(trash_q(self.membership), pk=kwargs["pk"]).first()
        if preset is None:
            raise NotFound()
        preset = lifecycle.preset_restore(preset=preset, actor=request.user)
        return Response(preset_detail(preset, Access.MANAGE))

    @extend_schema(request=s.CloneSerializer, responses={201: s.PresetDetailSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request: Request, **kwargs: Any) -> Response:
        source, access = self.preset_at(Access.VIEW)
        data = validated(self, s.CloneSerializer)
        number = readable_version(source, access)
        if number is None:
            raise PresetNotApproved()
        content = version_content(preset_id=source.pk, number=number)
        clone = lifecycle.preset_clone(
            source=source, content=content, version=number, org=self.org, actor=request.user, **data
        )
        return Response(preset_detail(clone, Access.MANAGE), status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.ReviewQueueItemSerializer(many=True))
    # The queue takes no list filters: without this the schema offered PresetFilter's, then ignored them.
    @action(detail=False, url_path="review-queue", filter_backends=[])
    def review_queue(self, request: Request, **kwargs: Any) -> Response:
        page = self.paginate_queryset(review.review_queue(membership=self.membership))
        return self.get_paginated_response(s.ReviewQueueItemSerializer(page, many=True).data)


class PresetReviewViewSet(PresetChildViewSet):
    """Submitting, approving, rejecting and reverting versions of one preset."""

    model = Preset
    preset_url_kwarg = "pk"
    action_permissions = {"submit": WRITE, "approve": WRITE, "reject": WRITE, "revert": WRITE}

    @extend_schema(request=None, responses={200: s.PresetVersionSerializer, 422: ERROR})
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at(Access.EDIT)
        version, blocked = review.preset_submit(preset=preset, actor=request.user)
        if blocked:
            raise SafetyFindingsBlocked(details={"version": version.number, "findings": version.findings})
        return Response(s.PresetVersionSerializer(version).data)

    @extend_schema(request=s.ApproveSerializer, responses=s.PresetVersionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at(Access.VIEW)
        data = validated(self, s.ApproveSerializer)
        version = review.preset_approve(
            preset=preset, actor=request.user, number=data["version"], comment=data["comment"]
        )
        return Response(s.PresetVersionSerializer(version).data)

    @extend_schema(request=s.RejectSerializer, responses=s.PresetVersionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at(Access.VIEW)
        data = validated(self, s.RejectSerializer)
        version = review.preset_reject(
            preset=preset, actor=request.user, number=data["version"], comment=data["comment"]
        )
        return Response(s.PresetVersionSerializer(version).data)

    @extend_schema(request=s.RevertSerializer, responses=s.PresetDetailSerializer)
    @action(detail=True, methods=["post"])
    def revert(self, request: Request, **kwargs: Any) -> Response:
        preset, access = self.preset_at(Access.EDIT)
        number = validated(self, s.RevertSerializer)["version"]
        content = version_content(preset_id=preset.pk, number=number) if number <= preset.version else None
        if content is None:
            raise NotFound(f"Version {number} does not exist.")
        preset = lifecycle.preset_revert(preset=preset, actor=request.user, content=content, number=number)
        return Response(preset_detail(preset, access))
