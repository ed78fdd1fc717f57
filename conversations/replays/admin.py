"""Replays and prompt sets in the staff admin: read-only; starting, cancelling and editing go through
the services, which check review rights and audit every change."""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin, ReadOnlyInline
from conversations.replays.models import PromptSet, Replay, ReplayItem


class ItemInline(ReadOnlyInline):
    model = ReplayItem
    fields = [
        "position",
        "status",
        "skip_reason",
        "baseline_prompt_tokens",
        "baseline_completion_tokens",
        "baseline_error",
        "candidate_prompt_tokens",
        "candidate_completion_tokens",
        "candidate_error",
    ]


@admin.register(Replay)
class ReplayAdmin(ReadOnlyAdmin):
    list_display = ["id", "org", "preset", "baseline_version", "candidate_version", "status", "tokens_spent"]
    list_filter = ["status", "org"]
    search_fields = ["preset__slug"]
    list_select_related = ["org", "preset"]
    inlines = [ItemInline]


@admin.register(PromptSet)
class PromptSetAdmin(ReadOnlyAdmin):
    list_display = ["name", "org", "preset", "updated_at"]
    list_filter = ["org"]
    search_fields = ["name", "preset__slug"]
    list_select_related = ["org", "preset"]
