"""The audit trail in the admin: read-only, filtered as the API filters, changes shown as before/after.

The filters take typed values (a username, an action prefix such as `preset.`, a target id, a time
range) and apply the API's own FilterSet, so the admin and `GET …/audit/` select the same events.
Objects' admin pages link here filtered to their target type and id (chatpresets.audited_admin).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from audit.models import AuditChainHead, AuditEvent, AuditSeal, AuditVerification
from audit.selectors import AuditEventFilter, field_changes


class TrailInputFilter(admin.SimpleListFilter):
    """A typed-in value for one of AuditEventFilter's filters, kept across the other filters' links."""

    template = "admin/audit/input_filter.html"
    placeholder: ClassVar[str] = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        filterset = AuditEventFilter({self.parameter_name: self.value()}, queryset=queryset)
        if not filterset.is_valid():
            raise IncorrectLookupParameters(filterset.errors)
        return filterset.qs

    def choices(self, changelist: Any) -> Iterator[dict[str, Any]]:
        others = [(name, value) for name, value in changelist.params.items() if name != self.parameter_name]
        yield {
            "name": self.parameter_name,
            "value": self.value() or "",
            "placeholder": self.placeholder,
            "others": others,
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


def _input_filter(name: str, label: str, hint: str) -> type[TrailInputFilter]:
    attributes = {"parameter_name": name, "title": label, "placeholder": hint}
    return type(f"{name.title()}Filter", (TrailInputFilter,), attributes)


TRAIL_FILTERS = [
    _input_filter("actor", "actor", "username or user id"),
    _input_filter("action", "action", "exact, or a prefix like preset."),
    _input_filter("target_type", "target type", "e.g. presets.preset"),
    _input_filter("target_id", "target id", "the object's id"),
    _input_filter("since", "since", "2026-01-31T00:00Z"),
    _input_filter("until", "until (excluded)", "2026-02-01T00:00Z"),
]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted here: these rows are written by the trail's own code."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows shown inside a read-only page: every field read-only, nothing added or removed."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields or [])

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "org", "actor_label", "action", "target_type", "target_id", "ip", "request_id"]
    list_filter = [*TRAIL_FILTERS, "org"]
    search_fields = ["action", "actor_label", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["org"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields] + ["changes"]

    @admin.display(description="Changes")
    def changes(self, obj: AuditEvent) -> SafeString | str:
        return changes_table(obj.payload)


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(ReadOnlyAdmin):
    """Each chain's last event, the anchor the retention purge cut at, and the organisation's retention."""

    list_display = ["key", "org", "seq", "hash", "anchor_seq", "retention_days"]
    list_select_related = ["org"]
    search_fields = ["key", "org__slug"]


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    """The signed chain heads (AUDIT_SIGNING_KEY): `audit_verify` checks the chain still reaches each."""

    list_display = ["sealed_at", "chain", "org", "seq", "hash", "key_fingerprint"]
    list_filter = ["org"]
    list_select_related = ["org"]
    date_hierarchy = "sealed_at"


@admin.register(AuditVerification)
class AuditVerificationAdmin(ReadOnlyAdmin):
    """Every verifier run, newest first; a broken chain lists its first break (kind, seq, event)."""

    list_display = ["checked_at", "ok", "chains", "events", "first_break"]
    list_filter = ["ok"]
    date_hierarchy = "checked_at"

    @admin.display(description="First break")
    def first_break(self, obj: AuditVerification) -> str:
        if not obj.breaks:
            return "—"
        first = obj.breaks[0]
        return f"{first.get('chain')}: {first.get('kind')} at seq {first.get('seq')}"


def changes_table(payload: Any) -> SafeString | str:
    """A before/after table of the changed fields (escaped), or "—" when the event records no change."""
    rows = field_changes(payload)
    if not rows:
        return "—"
    body = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
        ((field, _shown(change["before"]), _shown(change["after"])) for field, change in sorted(rows.items())),
    )
    head = "<thead><tr><th scope='col'>Field</th><th scope='col'>Before</th><th scope='col'>After</th></tr></thead>"
    return format_html("<table class='audit-changes'>{}<tbody>{}</tbody></table>", SafeString(head), body)


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)
