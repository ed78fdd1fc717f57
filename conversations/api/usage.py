"""Usage endpoints: the organisation's ledger (admins) and the caller's own limits (`/me/quota/`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatpresets.errors import InvalidInput
from conversations.models import UsageDaily
from conversations.usage import GROUP_COLUMNS, UsageWindow, caller_limits, org_quotas, usage_summary, usage_window
from tenancy.api.base import TenantViewSet
from tenancy.models import ApiKey
from tenancy.permissions import Perm

USAGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day (default: 29 days before `to`)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day, included (default: today)"),
    OpenApiParameter("group_by", str, enum=list(GROUP_COLUMNS), description="One row per … (default: day)"),
]


def parse_day(params: QueryDict, name: str) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"`{name}` must be a date written YYYY-MM-DD.", details={"field": name, "value": value}
        ) from None


def parse_usage_query(params: QueryDict) -> tuple[UsageWindow, str]:
    group_by = params.get("group_by", "day")
    if group_by not in GROUP_COLUMNS:
        raise InvalidInput(
            f"`group_by` must be one of {', '.join(GROUP_COLUMNS)}.",
            details={"field": "group_by", "allowed": list(GROUP_COLUMNS)},
        )
    return usage_window(start=parse_day(params, "from"), end=parse_day(params, "to")), group_by


class UsageViewSet(TenantViewSet):
    """Requests, tokens and cost of the organisation's model calls, plus its quotas right now."""

    model = UsageDaily
    action_permissions = {"list": Perm.USAGE_READ}

    @extend_schema(parameters=USAGE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def list(self, request: Request, **kwargs: Any) -> Response:
        window, group_by = parse_usage_query(request.query_params)
        quotas = org_quotas(membership=self.membership)  # first: with the store down nothing else is read
        report = usage_summary(org=self.org, window=window, group_by=group_by)
        period = {"from": window.start.isoformat(), "to": window.end.isoformat(), "group_by": group_by}
        return Response({**period, **report, "quotas": quotas})


class MeQuotaView(APIView):
    """Every rate limit and quota that applies to the caller, per organisation (a key: its own only)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response({"organizations": caller_limits(user=request.user, api_key=api_key)})
