"""Staff edits in the Django admin are audited like any other change (through the audit sink, so
tenancy's admin, below the audit app, uses it too), and an object's admin page links to its trail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest
from django.urls import reverse

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


def audit_trail_url(model: type[models.Model], object_id: str) -> str:
    """The audit changelist filtered to one object's events (its target type and id)."""
    query = urlencode({"target_type": model._meta.label_lower, "target_id": object_id})
    return f"{reverse('admin:audit_auditevent_changelist')}?{query}"


class AuditTrailLinkMixin(admin.ModelAdmin):
    """An "Audit trail" button on the object's admin page, next to History: its events in the audit admin.

    The page's own change form (simple-history's, say) stays the base the button is added to.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trail_base_template = self.change_form_template or "admin/change_form.html"
        self.change_form_template = "admin/change_form_with_trail.html"

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, obj: Any = None, **kwargs: Any
    ) -> Any:
        context["trail_base_template"] = self.trail_base_template
        if obj is not None and obj.pk is not None:
            context["audit_trail_url"] = audit_trail_url(type(obj), str(obj.pk))
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)
