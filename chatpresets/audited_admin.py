"""Staff edits in the Django admin are audited like any other change (through the audit sink, so
tenancy's admin, below the audit app, uses it too)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest

from chatpresets import audit_sink as audit


def _org_of(obj: models.Model) -> Any:
    if obj._meta.label_lower == "tenancy.organization":
        return obj
    return getattr(obj, "org", None)


class AuditedAdminMixin(admin.ModelAdmin):
    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            action = "changed" if change else "created"
            audit.record(
                org=_org_of(obj),
                actor=request.user,
                action=f"admin.{obj._meta.model_name}.{action}",
                target=obj,
                payload={"fields": sorted(form.changed_data)},
            )

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """The changelist's bulk delete: one audited delete per object, not one silent SQL DELETE."""
        for obj in queryset:
            self.delete_model(request, obj)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            audit.record(
                org=_org_of(obj), actor=request.user, action=f"admin.{obj._meta.model_name}.deleted", target=obj
            )
            super().delete_model(request, obj)
