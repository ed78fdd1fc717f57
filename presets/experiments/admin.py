"""Experiments in the staff admin: read-only. Every change has rules (review rights, frozen
variants, the audit trail) that only the services apply, so staff change nothing here."""

from __future__ import annotations

from django.contrib import admin

from audit.admin import ReadOnlyAdmin, ReadOnlyInline
from chatpresets.audited_admin import AuditTrailLinkMixin
from presets.experiments.models import Experiment, ExperimentVariant


class VariantInline(ReadOnlyInline):
    model = ExperimentVariant
    fields = ["position", "name", "preset", "version", "weight"]


@admin.register(Experiment)
class ExperimentAdmin(AuditTrailLinkMixin, ReadOnlyAdmin):
    list_display = ["name", "org", "preset", "label", "status", "unit", "traffic_share", "started_at", "stopped_at"]
    list_filter = ["status", "org"]
    search_fields = ["name", "preset__slug"]
    list_select_related = ["org", "preset"]
    inlines = [VariantInline]
