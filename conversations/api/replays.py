"""Replays before approval and the prompt sets they can replay, under orgs/<org>/presets/<preset_id>/.

A replay shows other people's turns and spends tokens, so every replay route is for those who may
review the preset: as for approving, the role (or key) needs presets:write and then may_review decides,
so a team's lead reviews its presets whatever their role in the organisation.
Prompt sets are read by whoever sees the preset and kept by its editors and reviewers.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import Forbidden
from conversations.api import replay_serializers as s
from conversations.replays import services
from conversations.replays.models import PromptSet, Replay
from presets.api.base import PresetChildViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm


class ReplayViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PresetChildViewSet):
    model = Replay
    serializer_class = s.ReplaySerializer
    action_permissions = dict.fromkeys(["list", "retrieve", "create", "cancel"], Perm.PRESETS_WRITE)

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        preset, _ = self.preset_at()  # first: an unseen preset is a 404 before anything else
        services.require_reviewer(preset=preset, actor=self.request.user)
        return queryset.filter(preset=preset).select_related("preset", "started_by")

    def get_serializer_class(self) -> type:
        return s.ReplayDetailSerializer if self.action == "retrieve" else s.ReplaySerializer

    @extend_schema(request=s.ReplayStartSerializer, responses={201: s.ReplaySerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        """Queue a replay of the version in review against the approved version, within `token_budget`."""
        preset, _ = self.preset_at()
        data = validated(self, s.ReplayStartSerializer)
        key_id = self.api_key.pk if self.api_key else None
        replay = services.replay_start(preset=preset, actor=request.user, api_key_id=key_id, **data)
        return Response(s.ReplaySerializer(replay).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ReplaySerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, **kwargs: Any) -> Response:
        replay = services.replay_cancel(replay=self.get_object(), actor=request.user)
        return Response(s.ReplaySerializer(replay).data)


class PromptSetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, PresetChildViewSet):
    model = PromptSet
    serializer_class = s.PromptSetSerializer
    action_permissions = {
        "list": Perm.PRESETS_READ,
        "retrieve": Perm.PRESETS_READ,
        **dict.fromkeys(["create", "partial_update", "destroy"], Perm.PRESETS_WRITE),
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        preset, _ = self.preset_at()
        return queryset.filter(preset=preset)

    @extend_schema(request=s.PromptSetWriteSerializer, responses={201: s.PromptSetSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        preset = self.keeper_preset()
        data = validated(self, s.PromptSetWriteSerializer)
        prompt_set = services.prompt_set_create(preset=preset, actor=request.user, **data)
        return Response(s.PromptSetSerializer(prompt_set).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.PromptSetWriteSerializer(partial=True), responses=s.PromptSetSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        prompt_set = self.get_object()
        self.keeper_preset()
        data = validated(self, s.PromptSetWriteSerializer, partial=True)
        prompt_set = services.prompt_set_update(prompt_set=prompt_set, actor=request.user, **data)
        return Response(s.PromptSetSerializer(prompt_set).data)

    def perform_destroy(self, instance: PromptSet) -> None:
        self.keeper_preset()
        services.prompt_set_delete(prompt_set=instance, actor=self.request.user)

    def keeper_preset(self) -> Any:
        """The preset, when the caller may keep its prompt sets (its editors and reviewers); else 403."""
        preset, _ = self.preset_at()
        if not services.may_edit_prompt_sets(preset=preset, membership=self.membership):
            raise Forbidden("Prompt sets are kept by the preset's editors and reviewers.")
        return preset
