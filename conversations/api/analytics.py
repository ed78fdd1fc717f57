"""Feedback analytics of one preset: GET orgs/<org>/presets/<preset_id>/analytics/?since=&until=.

Readers of the preset (view access) see how its versions' answers fared in their organisation;
a preset they cannot see is the same 404 as everywhere (PresetChildViewSet).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.analytics import analytics_period, preset_analytics
from conversations.api.usage import parse_day
from conversations.models import Message
from presets.api.base import PresetChildViewSet
from tenancy.permissions import Perm

ANALYTICS_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.DATE, description="First UTC day (default: 29 days before `until`)"),
    OpenApiParameter(
        "until", OpenApiTypes.DATE, description="Last UTC day, included (default: today; 366 days at most)"
    ),
]


class PresetAnalyticsViewSet(PresetChildViewSet):
    """Per version and per UTC day: conversations, turns, thumbs-up, regenerate, edit and error rates,
    tokens and cost per turn, median time to first token; with each version's and the overall totals."""

    model = Message
    action_permissions = {"list": Perm.PRESETS_READ}

    @extend_schema(parameters=ANALYTICS_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def list(self, request: Request, **kwargs: Any) -> Response:
        preset, _ = self.preset_at()  # first: an unseen preset is a 404 whatever the query says
        params = request.query_params
        period = analytics_period(since=parse_day(params, "since"), until=parse_day(params, "until"))
        return Response(preset_analytics(preset=preset, org_id=self.org.pk, period=period))
