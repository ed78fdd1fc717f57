"""Staff moderation console for presets: review queue, gallery approval, trash, links and libraries.

Every state change goes through the preset services, so the review rules (nobody approves their
own version, only org reviewers approve org presets), the history rows and the audit trail are the
same as through the API. Version content and review state are read-only here.

The review actions are offered only to staff who can use them: moderators (`presets.moderate_preset`,
or a superuser), who decide any organisation's versions as an audited override, and staff whom the
review rules let review somewhere (an approver, admin or owner of an organisation, or a team lead).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from simple_history.admin import SimpleHistoryAdmin

from chatpresets.audited_admin import AuditedAdminMixin, AuditTrailLinkMixin
from chatpresets.errors import DomainError, InvalidState
from presets.labels import labels_of
from presets.models import Library, LibraryItem, Preset, PresetLink, PresetVersion, Status
from presets.selectors import version_content, version_diff
from presets.services import lifecycle, review, sharing
from tenancy.models import Membership

# Editing these is a plain metadata change; everything else has its own service and rules.
PRESET_EDITABLE_FIELDS = ("name", "description", "tags")


class ReviewActionForm(ActionForm):
    comment = forms.CharField(required=False, label="Review comment", max_length=2000)


class TrashFilter(admin.SimpleListFilter):
    title = "in trash"
    parameter_name = "trash"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Preset]) -> QuerySet[Preset]:
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return queryset


class ServiceSavedPresetAdmin(SimpleHistoryAdmin):
    """Saves metadata edits through `preset_update`, which re-reads the row under its lock.

    A plain `obj.save()` would write back every column as loaded with the form, undoing a review
    decision made meanwhile; and a simple-history "revert" would restore old status and content.
    """

    def save_model(self, request: HttpRequest, obj: Preset, form: Any, change: bool) -> None:
        changes = {field: form.cleaned_data[field] for field in form.changed_data if field in PRESET_EDITABLE_FIELDS}
        if changes:
            lifecycle.preset_update(preset=obj, actor=request.user, change_reason="edited in the admin", **changes)


@admin.register(Preset)
class PresetAdmin(AuditTrailLinkMixin, AuditedAdminMixin, ServiceSavedPresetAdmin):
    list_display = [
        "name",
        "slug",
        "org",
        "owner",
        "scope",
        "status",
        "version",
        "approved_version",
        "public_approved_version",
        "deleted_at",
        "updated_at",
    ]
    list_filter = ["scope", "status", "org", TrashFilter]
    search_fields = ["name", "slug", "description", "system_prompt", "owner__username"]
    list_select_related = ["org", "owner"]
    action_form = ReviewActionForm
    actions = ["approve_pending", "reject_pending", "approve_public", "restore_from_trash"]
    fieldsets = [
        (None, {"fields": ["name", "description", "tags", "slug", "org", "owner", "team", "scope"]}),
        (
            "Review",
            {
                "fields": [
                    "status",
                    "version",
                    "approved_version",
                    "public_approved_version",
                    "label_pointers",
                    "approved_diff",
                ]
            },
        ),
        ("Content", {"fields": ["system_prompt", "model", "params", "variables", "policy"]}),
        ("Lifecycle", {"fields": ["forked_from", "forked_from_version", "created_at", "updated_at", "deleted_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Preset | None = None) -> list[str]:
        every_field = [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]
        return [field for field in every_field if field not in PRESET_EDITABLE_FIELDS]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A preset needs its first version row and scope checks: preset_create makes both.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Preset | None = None) -> bool:
        # Deleting is the trash (with its retention period), not a hard delete from here.
        return False

    def revert_disabled(self, request: HttpRequest, obj: Preset | None = None) -> bool:
        # Old content comes back as a new reviewed version (preset_revert), never by rewriting the row.
        return True

    def get_urls(self) -> list[URLPattern]:
        pending = path("pending/", self.admin_site.admin_view(self.pending_view), name="presets_preset_pending")
        # Before the defaults: their "<path:object_id>/" pattern would swallow "pending/".
        return [pending, *super().get_urls()]

    def pending_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """The review queue: live presets whose current version waits for a decision."""
        changelist = reverse("admin:presets_preset_changelist", current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{changelist}?status__exact={Status.PENDING_REVIEW}&trash=no")

    @admin.display(description="Labels")
    def label_pointers(self, obj: Preset) -> str:
        """Shown, not edited: a move needs the review rules and an audit event (presets.labels), which the
        API and the preset's page apply. (A read-only field rather than an inline, whose formset every
        POST of this form would then have to carry.)"""
        rows = [
            (view.name, view.version, " (newest approved)" if view.implicit else "") for view in labels_of(preset=obj)
        ]
        if not rows:
            return "No labels."
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: v{}{}</li>", rows))

    @admin.display(description="Changes since the approved version")
    def approved_diff(self, obj: Preset) -> str:
        if obj.approved_version is None:
            return "No approved version."
        if obj.approved_version == obj.version:
            return "The current version is the approved version."
        older = version_content(preset_id=obj.pk, number=obj.approved_version)
        newer = version_content(preset_id=obj.pk, number=obj.version)
        if older is None or newer is None:
            return "The content of one of these versions is missing from the history."
        diff = version_diff(
            older=older,
            newer=newer,
            older_label=f"v{obj.approved_version} (approved)",
            newer_label=f"v{obj.version} (current)",
        )
        return format_html(
            "<pre>{}</pre>{}", diff["prompt_diff"] or "The prompt is unchanged.", _changed_settings(diff["changed"])
        )

    def has_review_permission(self, request: HttpRequest) -> bool:
        """Offered only to those who may decide something; for anyone else the action would always fail."""
        user = request.user
        return self.has_view_permission(request) and (
            review.may_moderate(user=user) or review.reviews_somewhere(user=user)
        )

    @admin.action(description="Approve pending version", permissions=["review"])
    def approve_pending(self, request: HttpRequest, queryset: QuerySet[Preset]) -> None:
        comment = _comment(request)
        self._apply(request, queryset, "Approved", lambda preset: _approve(preset, request, comment))

    @admin.action(description="Reject pending version", permissions=["review"])
    def reject_pending(self, request: HttpRequest, queryset: QuerySet[Preset]) -> None:
        comment = _comment(request)
        if not comment:
            self.message_user(request, "A rejection needs a comment for the author.", messages.ERROR)
            return
        self._apply(request, queryset, "Rejected", lambda preset: _reject(preset, request, comment))

    @admin.action(description="Approve for public gallery", permissions=["change"])
    def approve_public(self, request: HttpRequest, queryset: QuerySet[Preset]) -> None:
        comment = _comment(request)
        self._apply(request, queryset, "Approved for the gallery", lambda preset: _gallery(preset, request, comment))

    @admin.action(description="Restore from trash", permissions=["change"])
    def restore_from_trash(self, request: HttpRequest, queryset: QuerySet[Preset]) -> None:
        self._apply(request, queryset, "Restored", lambda preset: _restore(preset, request))

    def _apply(
        self, request: HttpRequest, queryset: QuerySet[Preset], verb: str, operation: Callable[[Preset], Any]
    ) -> None:
        """Run the service per preset; one refusal is reported and does not stop the others."""
        done, refusals = 0, []
        for preset in queryset.select_related("org"):
            try:
                operation(preset)
            except DomainError as error:
                refusals.append(f"{preset.slug}: {error.message}")
            else:
                done += 1
        if done:
            self.message_user(request, f"{verb}: {done} preset(s).", messages.SUCCESS)
        for refusal in refusals:
            self.message_user(request, refusal, messages.WARNING)


def _comment(request: HttpRequest) -> str:
    return request.POST.get("comment", "").strip()


def _approve(preset: Preset, request: HttpRequest, comment: str) -> None:
    review.preset_approve(
        preset=preset,
        actor=request.user,
        number=preset.version,
        comment=comment,
        moderator_override=review.may_moderate(user=request.user),
    )


def _reject(preset: Preset, request: HttpRequest, comment: str) -> None:
    review.preset_reject(
        preset=preset,
        actor=request.user,
        number=preset.version,
        comment=comment,
        moderator_override=review.may_moderate(user=request.user),
    )


def _gallery(preset: Preset, request: HttpRequest, comment: str) -> None:
    if preset.approved_version is None:
        raise InvalidState("No version has been approved by the organisation yet.")
    review.preset_staff_approve_public(
        preset=preset, staff=request.user, number=preset.approved_version, comment=comment
    )


def _restore(preset: Preset, request: HttpRequest) -> None:
    # preset_restore answers NotFound for a live preset; say what that means here.
    if preset.deleted_at is None:
        raise InvalidState("This preset is not in the trash.")
    lifecycle.preset_restore(preset=preset, actor=request.user)


def _changed_settings(changed: dict[str, dict[str, Any]]) -> SafeString | str:
    if not changed:
        return ""
    rows = format_html_join(
        "",
        "<li>{}: {} → {}</li>",
        ((field, _json(values["before"]), _json(values["after"])) for field, values in changed.items()),
    )
    return format_html("<ul>{}</ul>", rows)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@admin.register(PresetVersion)
class PresetVersionAdmin(admin.ModelAdmin):
    """Review decisions are made through the preset actions; the version rows are the record."""

    list_display = ["preset", "number", "status", "author", "reviewer", "reviewed_at", "staff_approved_at"]
    list_filter = ["status", "org"]
    search_fields = ["preset__slug", "preset__name", "author__username", "reviewer__username", "review_comment"]
    list_select_related = ["preset", "author", "reviewer"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PresetVersion | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PresetVersion | None = None) -> bool:
        return False


@admin.register(PresetLink)
class PresetLinkAdmin(admin.ModelAdmin):
    """Links are made by their preset's editors (the token is shown once); staff may only revoke."""

    list_display = [
        "preset",
        "org",
        "level",
        "audience",
        "created_by",
        "created_at",
        "expires_at",
        "uses",
        "revoked_at",
    ]
    list_filter = ["level", "audience", "org", "revoked_at"]
    search_fields = ["preset__slug", "preset__name", "created_by__username"]
    list_select_related = ["preset", "org", "created_by"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PresetLink | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PresetLink | None = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        # The change form is off, but revoking is a change: it needs the model's change permission.
        return request.user.has_perm("presets.change_presetlink")

    @admin.action(description="Revoke selected links", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PresetLink]) -> None:
        for link in queryset.select_related("org"):
            sharing.link_revoke(link=link, actor=request.user)


class LibraryItemFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """A library only holds presets of its own organisation."""
        super().clean()
        for form in self.forms:
            cleaned = getattr(form, "cleaned_data", {})
            preset = None if cleaned.get("DELETE") else cleaned.get("preset")
            if preset is not None and preset.org_id != self.instance.org_id:
                raise forms.ValidationError(f"{preset.slug} belongs to another organisation.")


class LibraryItemInline(admin.TabularInline):
    model = LibraryItem
    formset = LibraryItemFormSet
    extra = 0
    fields = ["preset", "position"]
    autocomplete_fields = ["preset"]


class LibraryAdminForm(forms.ModelForm):
    class Meta:
        model = Library
        fields = ["org", "name", "description", "kind", "owner", "team"]

    def clean(self) -> dict[str, Any]:
        """Team and owner come from the library's organisation, as library_create insists."""
        cleaned = super().clean()
        org, team, owner = cleaned.get("org"), cleaned.get("team"), cleaned.get("owner")
        if org is not None and team is not None and team.org_id != org.pk:
            self.add_error("team", "This team belongs to another organisation.")
        if org is not None and owner is not None and not Membership.objects.for_org(org).filter(user=owner).exists():
            self.add_error("owner", "The owner must be a member of the organisation.")
        return cleaned


@admin.register(Library)
class LibraryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = LibraryAdminForm
    list_display = ["name", "kind", "org", "owner", "team", "updated_at"]
    list_filter = ["kind", "org"]
    search_fields = ["name", "description", "owner__username", "org__slug"]
    list_select_related = ["org", "owner", "team"]
    autocomplete_fields = ["org", "owner", "team"]
    inlines = [LibraryItemInline]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Library]) -> None:
        # The mixin audits delete_model only; the bulk "delete selected" action would leave no trace.
        for library in queryset.select_related("org"):
            self.delete_model(request, library)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Items carry their own org column (the tenant filter); it is always the library's.
        for item in formset.save(commit=False):
            item.org = item.library.org
            item.save()
        for removed in formset.deleted_objects:
            removed.delete()


# The experiments package's read-only pages and the labels' page register themselves when imported.
from presets import label_admin  # noqa: E402, F401
from presets.experiments import admin as experiments_admin  # noqa: E402, F401
