"""Conversations, messages and the usage ledger in the admin: read-only, for support and audits."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chatpresets.audited_admin import AuditTrailLinkMixin
from conversations.models import Conversation, Message, UsageRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(AuditTrailLinkMixin, ReadOnlyAdmin):
    list_display = ["id", "title", "org", "user", "preset", "preset_version", "updated_at", "deleted_at"]
    list_filter = ["org"]
    search_fields = ["title", "user__username"]
    list_select_related = ["org", "user", "preset"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["conversation", "seq", "role", "status", "model", "token_count", "cost", "ttft_ms", "created_at"]
    list_filter = ["status", "role", "org"]
    search_fields = ["conversation__id"]


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "org",
        "kind",
        "user",
        "api_key",
        "model",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "total_ms",
    ]
    list_filter = ["kind", "status", "model", "org"]
    date_hierarchy = "created_at"


# The replays package's read-only pages register themselves when imported.
from conversations.replays import admin as replays_admin  # noqa: E402, F401
