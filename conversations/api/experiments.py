"""Experiments of an organisation: writers draft them, reviewers start, pause, stop and promote,
readers see results. The view lives in conversations because results read conversations' tables.

Experiments on presets the caller cannot see are not listed (the same 404 as another organisation's).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import experiment_drafts as drafts
from conversations.api import experiment_serializers as s
from conversations.experiment_metrics import experiment_results
from presets.experiments import services
from presets.experiments.models import Experiment
from presets.experiments.selectors import experiments_visible
from presets.models import Preset
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm

READ, WRITE, REVIEW = Perm.PRESETS_READ, Perm.PRESETS_WRITE, Perm.PRESETS_APPROVE
TRANSITIONS = {
    "start": services.experiment_start,
    "pause": services.experiment_pause,
    "stop": services.experiment_stop,
}


class ExperimentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = Experiment
    serializer_class = s.ExperimentSerializer
    action_permissions = {
        "list": READ,
        "retrieve": READ,
        "results": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "destroy": WRITE,
        **dict.fromkeys([*TRANSITIONS, "promote"], REVIEW),
    }

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        visible = experiments_visible(membership=self.membership).values("pk")
        return queryset.filter(pk__in=visible).select_related("org", "preset").prefetch_related("variants")

    @extend_schema(request=s.ExperimentWriteSerializer, responses={201: s.ExperimentSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.ExperimentWriteSerializer)
        experiment = drafts.experiment_draft(membership=self.membership, actor=request.user, data=data)
        return Response(s.ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ExperimentUpdateSerializer, responses=s.ExperimentSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        experiment = self.get_object()
        preset = self.editable_preset(experiment.preset_id)
        data = validated(self, s.ExperimentUpdateSerializer, partial=True)
        if "variants" in data:
            variants = validated(self, s.VariantsSerializer)["variants"]
            data["variants"] = drafts.variant_rows(membership=self.membership, variants=variants, preset=preset)
        experiment = services.experiment_update(experiment=experiment, actor=request.user, **data)
        return Response(s.ExperimentSerializer(experiment).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        experiment = self.get_object()
        self.editable_preset(experiment.preset_id)
        services.experiment_delete(experiment=experiment, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, **kwargs: Any) -> Response:
        """Start a draft, or resume a paused experiment (its split and assignments unchanged)."""
        return self.transition("start")

    @extend_schema(request=None, responses=s.ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, **kwargs: Any) -> Response:
        return self.transition("pause")

    @extend_schema(request=None, responses=s.ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, **kwargs: Any) -> Response:
        return self.transition("stop")

    @extend_schema(request=s.PromoteSerializer, responses=s.ExperimentSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, **kwargs: Any) -> Response:
        experiment = self.get_object()
        variant = validated(self, s.PromoteSerializer)["variant"]
        experiment = services.experiment_promote(experiment=experiment, actor=request.user, variant_name=variant)
        return Response(s.ExperimentSerializer(experiment).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True)
    def results(self, request: Request, **kwargs: Any) -> Response:
        """Per variant: units, counts, each metric with its 95% interval; the primary metric's test,
        the verdict (none below the minimum sample) and the sample-ratio check."""
        experiment = self.get_object()
        return Response(
            {"experiment": s.ExperimentSerializer(experiment).data, **experiment_results(experiment=experiment)}
        )

    def transition(self, name: str) -> Response:
        experiment = TRANSITIONS[name](experiment=self.get_object(), actor=self.request.user)
        return Response(s.ExperimentSerializer(experiment).data)

    def editable_preset(self, preset_id: Any) -> Preset:
        return drafts.editable_preset(membership=self.membership, preset_id=preset_id)
