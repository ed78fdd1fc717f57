"""GET/PUT /api/v1/orgs/<org>/audit/retention/: how long the organisation's audit trail is kept.

Owners and admins (and keys with `audit:read`) read it: they read the trail, whose
`audit.retention_changed` events show every value anyway. Only owners (and their keys with
`org:write`) change it, and never below the operator's floor (`AUDIT_RETENTION_DAYS`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditChainHead
from audit.retention import MAXIMUM_DAYS, head_of, retention_of, retention_set
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm


class RetentionSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField(
        allow_null=True, help_text="The organisation's choice in days; 0: forever; null: the service's default"
    )
    effective_days = serializers.IntegerField(help_text="Days events are kept now; 0: forever")
    minimum_days = serializers.IntegerField(help_text="The service's floor in days; 0: none")


class RetentionInputSerializer(serializers.Serializer):
    retention_days = serializers.IntegerField(
        min_value=0,
        max_value=MAXIMUM_DAYS,
        allow_null=True,
        help_text="Days to keep events (at least `minimum_days`); 0: forever; null: the service's default",
    )


class AuditRetentionViewSet(TenantViewSet):
    """Events older than the retention are purged daily, recorded as `audit.purged` (docs/audit.md)."""

    model = AuditChainHead
    serializer_class = RetentionSerializer
    action_permissions = {"retrieve": Perm.AUDIT_VIEW, "update": Perm.AUDIT_RETENTION}

    def get_object(self) -> AuditChainHead:
        """The organisation's chain head, which holds the retention: found by its key (the
        organisation's id), not through get_queryset; DRF's OPTIONS asks for it before describing PUT."""
        return head_of(self.org)

    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(retention_of(org=self.org))

    @extend_schema(request=RetentionInputSerializer, responses=RetentionSerializer)
    def update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, RetentionInputSerializer)
        retention_set(org=self.org, actor=request.user, days=data["retention_days"])
        return Response(retention_of(org=self.org))


retention_view = AuditRetentionViewSet.as_view({"get": "retrieve", "put": "update"})
