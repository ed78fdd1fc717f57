"""The audit trail in the admin: read-only, filterable, searchable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "org", "actor_label", "action", "target_type", "target_id", "ip", "request_id"]
    list_filter = ["action", "target_type", "org", "created_at"]
    search_fields = ["action", "actor_label", "target_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["org"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
