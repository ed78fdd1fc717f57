"""Labels in the staff admin: listed, moved (a new version) and deleted through presets.labels.

The label rules apply to the staff member as to anyone: they act under their own membership of the
preset's organisation (review rights for `production` and protected labels), every move and delete
is audited by the service, and a refusal is shown as a message with nothing changed. New labels are
made by moving one on the preset's page or through the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from chatpresets.errors import DomainError
from presets import labels
from presets.models import PresetLabel

REFUSAL = "_label_refusal"  # set on the request by save_model, read by response_change


@admin.register(PresetLabel)
class PresetLabelAdmin(admin.ModelAdmin):
    list_display = ["name", "preset", "org", "version", "moved_by", "moved_at"]
    list_filter = ["org", "name"]
    search_fields = ["name", "preset__slug", "preset__name"]
    list_select_related = ["preset", "org", "moved_by"]
    fields = ["preset", "name", "version", "moved_by", "moved_at"]
    readonly_fields = ["preset", "name", "moved_by", "moved_at"]
    actions = ["delete_labels"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django's own delete is a bare SQL DELETE with no rules: the action below goes through the service.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("presets.change_presetlabel")

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("presets.delete_presetlabel")

    def save_model(self, request: HttpRequest, obj: PresetLabel, form: Any, change: bool) -> None:
        try:
            labels.label_move(preset=obj.preset, name=obj.name, version=obj.version, actor=request.user)
        except DomainError as error:
            setattr(request, REFUSAL, error.message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        # The service's audit event is the record; a refused move changed nothing to log.
        return None if hasattr(request, REFUSAL) else super().log_change(request, obj, message)

    def response_change(self, request: HttpRequest, obj: PresetLabel) -> HttpResponse:
        refusal = getattr(request, REFUSAL, None)
        if refusal is None:
            return super().response_change(request, obj)
        self.message_user(request, f"{obj.name} was not moved: {refusal}", messages.ERROR)
        return HttpResponseRedirect(request.path)

    @admin.action(description="Delete selected labels", permissions=["remove"])
    def delete_labels(self, request: HttpRequest, queryset: QuerySet[PresetLabel]) -> None:
        """One service call per label; a refusal is reported and does not stop the others."""
        for label in queryset.select_related("preset__org"):
            try:
                labels.label_delete(preset=label.preset, name=label.name, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"{label.name} of {label.preset.slug}: {error.message}", messages.WARNING)
            else:
                self.message_user(request, f"Deleted {label.name} of {label.preset.slug}.", messages.SUCCESS)
