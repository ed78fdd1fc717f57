"""Reading the trail: one organisation's events, filtered the same way by the API, the export and the page.

Newest first on (created_at, id). The organisation filter comes first, always: callers pass the
organisation (or a queryset the tenant viewset already scoped), never a bare AuditEvent queryset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import django_filters
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from chatpresets.filters import UtcIsoDateTimeFilter

NEWEST_FIRST = ("-created_at", "-id")
EXPORT_BATCH = 500
FILTER_NAMES = ("actor", "action", "target_type", "target_id", "since", "until")


class AuditEventFilter(django_filters.FilterSet):
    """`actor` is a user id or username; `action` ending in "." is a prefix (`preset.`), else exact;
    `since` (included) and `until` (excluded) are ISO 8601 instants."""

    actor = django_filters.CharFilter(method="filter_actor", help_text="A user id or username")
    action = django_filters.CharFilter(method="filter_action", help_text='Exact, or a prefix ending in "."')
    target_type = django_filters.CharFilter(field_name="target_type", help_text="e.g. presets.preset")
    target_id = django_filters.CharFilter(field_name="target_id")
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="From this instant")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Before this instant")

    class Meta:
        model = AuditEvent
        fields = list(FILTER_NAMES)

    def filter_actor(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        by_label = Q(actor_label=value)
        if value.isascii() and value.isdigit() and len(value) < 19:  # a bigint id; longer digits name no one
            return queryset.filter(by_label | Q(actor_user_id=int(value)))
        return queryset.filter(by_label)

    def filter_action(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value.endswith("."):
            return queryset.filter(action__startswith=value)
        return queryset.filter(action=value)


def audit_events(*, org: Any, params: Mapping[str, Any]) -> AuditEventFilter:
    """The organisation's events narrowed by `params`; check `.is_valid()` before reading `.qs`."""
    return AuditEventFilter(params, queryset=events_of(AuditEvent.objects.for_org(org)))


def events_of(queryset: QuerySet) -> QuerySet:
    """An org-scoped queryset of events, newest first, with what the readers show of each."""
    return queryset.select_related("actor_api_key").order_by(*NEWEST_FIRST)


def applied_filters(params: Mapping[str, Any]) -> dict[str, str]:
    """The filters a reader named (recorded with an export, carried by the page's links)."""
    return {name: params[name] for name in FILTER_NAMES if params.get(name)}


def export_lines(queryset: QuerySet, shape: Any) -> Iterator[str]:
    """Each event as one JSON line (`shape(event)` gives the object), newest first, EXPORT_BATCH rows a
    read. Keyset paging on (created_at, id): each read is an index range however deep the export."""
    rows = queryset.order_by(*NEWEST_FIRST)
    batch = list(rows[:EXPORT_BATCH])
    while batch:
        yield "".join(json.dumps(shape(event), cls=DjangoJSONEncoder, ensure_ascii=False) + "\n" for event in batch)
        last = batch[-1]
        older = Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, id__lt=last.id)
        batch = list(rows.filter(older)[:EXPORT_BATCH])


def split_payload(payload: Any) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(the changed fields as {field: {"before", "after"}}, the rest of the payload).

    Services record `audit_sink.changes(...)` as the payload itself, under "changes", or beside
    other facts (`{"user": "bob", "is_lead": {"before": false, "after": true}}`): all three read alike.
    """
    if not isinstance(payload, dict):
        return {}, {}
    nested = payload.get("changes")
    source, rest = (
        (nested, {k: v for k, v in payload.items() if k != "changes"}) if isinstance(nested, dict) else (payload, {})
    )
    changes = {field: value for field, value in source.items() if _is_change(value)}
    rest |= {field: value for field, value in source.items() if field not in changes}
    return changes, rest


def field_changes(payload: Any) -> dict[str, dict[str, Any]]:
    """The changed fields of a payload, as {field: {"before", "after"}}, in whichever shape it holds them."""
    return split_payload(payload)[0]


def _is_change(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {"before", "after"}
