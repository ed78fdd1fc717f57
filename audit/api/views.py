"""GET /api/v1/orgs/<org>/audit/ and …/audit/export/: the organisation's own trail, newest first.

Owners and admins (and keys with `audit:read`) only. The tenant viewset scopes every read to the
URL's organisation, so another organisation's trail is the same 404 as one that does not exist.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request

from audit import services as audit
from audit.api.serializers import AuditEventSerializer
from audit.models import AuditEvent
from audit.selectors import AuditEventFilter, applied_filters, events_of, export_lines
from chatpresets.filters import UtcIsoDateTimeFilter
from chatpresets.pagination import NewestFirstCursorPagination
from chatpresets.streaming import streamed
from tenancy.api.base import TenantViewSet
from tenancy.permissions import Perm

JSON_LINES = "application/x-ndjson"
# The list's filters, described for the export too (the schema reads a FilterSet on list views only).
EXPORT_PARAMETERS = [
    OpenApiParameter(
        name,
        OpenApiTypes.DATETIME if isinstance(declared, UtcIsoDateTimeFilter) else OpenApiTypes.STR,
        description=declared.extra.get("help_text", ""),
    )
    for name, declared in AuditEventFilter.base_filters.items()
]


class AuditEventViewSet(mixins.ListModelMixin, TenantViewSet):
    """Filter by actor, action (exact or a prefix ending in "."), target and time; page by `cursor`."""

    model = AuditEvent
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    pagination_class = NewestFirstCursorPagination
    action_permissions = {"list": Perm.AUDIT_VIEW, "export": Perm.AUDIT_VIEW}

    def scope_queryset(self, queryset: Any) -> Any:
        return events_of(queryset)

    @extend_schema(
        parameters=EXPORT_PARAMETERS,
        responses={(200, JSON_LINES): OpenApiTypes.STR},
        description="Every event the filters select, one JSON object per line (the list's shape), newest "
        "first, streamed; not paged. The export itself is recorded as an `audit.exported` event.",
    )
    @action(detail=False, pagination_class=None)
    def export(self, request: Request, **kwargs: Any) -> StreamingHttpResponse:
        events = self.filter_queryset(self.get_queryset())  # a bad filter is a 400 before anything is recorded
        filters = applied_filters(request.query_params)
        audit.record(org=self.org, actor=request.user, action="audit.exported", payload={"filters": filters})
        shape = AuditEventSerializer().to_representation
        response = StreamingHttpResponse(streamed(partial(export_lines, events, shape)), content_type=JSON_LINES)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{self.org.slug}-{stamp}.jsonl"'
        return response
