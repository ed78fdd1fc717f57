"""Staff console for users, organisations, teams, memberships and API keys."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from chatpresets import audit_sink as audit
from chatpresets.audited_admin import AuditedAdminMixin, AuditTrailLinkMixin
from chatpresets.errors import InvalidInput
from tenancy import org_settings, services
from tenancy.admin_services import MembershipAdmin, MembershipInline, save_membership_formset, save_team_formset
from tenancy.metering.rules import check_override
from tenancy.models import ApiKey, LimitOverride, Membership, Organization, Team, TeamMembership, User


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_staff", "is_active"]


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0
    fields = ["name", "slug", "description"]


class OrganizationForm(forms.ModelForm):
    """Staff are the operator: any value the settings schema accepts, plan limits above the plan included."""

    class Meta:
        model = Organization
        fields = ["name", "slug", "plan", "settings"]

    def clean_settings(self) -> Any:
        value = self.cleaned_data.get("settings")
        try:
            return org_settings.validate(value)
        except InvalidInput as error:
            raise forms.ValidationError(f"{error.message} ({error.details.get('key') or 'settings'})") from error


@admin.register(Organization)
class OrganizationAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = OrganizationForm
    list_display = ["name", "slug", "plan", "created_at"]
    list_filter = ["plan"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, TeamInline]

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        """Besides the generic admin event, a change of plan or limits names the values before and after."""
        before = Organization.objects.filter(pk=obj.pk).values("plan", "settings").first() or {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            changes = audit.changes(
                {"plan": before.get("plan"), "limits": (before.get("settings") or {}).get("limits")},
                {"plan": obj.plan, "limits": (obj.settings or {}).get("limits")},
            )
            if change and changes:
                audit.record(org=obj, actor=request.user, action="org.limits_changed", target=obj, payload=changes)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Membership:
            save_membership_formset(request, formset)
        elif formset.model is Team:
            save_team_formset(request, formset)
        else:
            super().save_formset(request, form, formset, change)


admin.site.register(Membership, MembershipAdmin)


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["user", "is_lead"]
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "org", "created_at"]
    list_filter = ["org"]
    search_fields = ["name", "slug", "org__slug"]
    inlines = [TeamMembershipInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for team_membership in formset.save(commit=False):
            team_membership.org = team_membership.team.org
            team_membership.save()
        for removed in formset.deleted_objects:
            removed.delete()


@admin.register(ApiKey)
class ApiKeyAdmin(AuditTrailLinkMixin, AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "org", "is_active", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["org", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "last_used_at", "created_at"]
    fields = ["org", "user", "name", "prefix", "scopes", "expires_at", "revoked_at", "last_used_at", "created_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A key made here would have no secret anyone could see; users create keys through the API.
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.select_related("org", "user"):
            services.api_key_revoke(api_key=api_key, actor=request.user)

    def is_active(self, obj: ApiKey) -> Any:
        return obj.is_active

    is_active.boolean = True


class LimitOverrideForm(forms.ModelForm):
    class Meta:
        model = LimitOverride
        fields = ["org", "team", "user", "limits", "note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        org, team, user = data.get("org"), data.get("team"), data.get("user")
        if (team is None) == (user is None):
            raise forms.ValidationError("Choose either a team or a member, not both.")
        if team is not None and org is not None and team.org_id != org.pk:
            self.add_error("team", "This team belongs to another organisation.")
        if user is not None and org is not None and not Membership.objects.filter(org=org, user=user).exists():
            self.add_error("user", "This user is not a member of the organisation.")
        for problem in check_override(team=team, user=user, limits=data.get("limits")):
            self.add_error("limits", problem)
        return data


@admin.register(LimitOverride)
class LimitOverrideAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Guardrail limits for one team or member; organisation-wide ones are the organisation's settings."""

    form = LimitOverrideForm
    list_display = ["org", "team", "user", "limits", "note", "updated_at"]
    list_filter = ["org"]
    search_fields = ["org__slug", "team__slug", "user__username", "note"]
    autocomplete_fields = ["org", "team", "user"]
