"""Membership and team editing in the admin goes through tenancy.services, like the API.

So the console keeps the same rules: an organisation keeps at least one owner, a member who
leaves also leaves the organisation's teams and loses their keys there, a deleted team takes its
guardian group with it, and every change is audited as `member.*` or `team.*`. The forms check
the last-owner rule first, so a refusal is a form error rather than an error page; the services
check it again under the organisation's row lock.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from tenancy import services
from tenancy.models import Membership, Role, Team

LAST_OWNER = "An organisation must keep at least one owner."


def _is_last_owner(membership: Membership) -> bool:
    if membership._state.adding or membership.role != Role.OWNER:
        return False
    others = Membership.objects.filter(org_id=membership.org_id, role=Role.OWNER).exclude(pk=membership.pk)
    return not others.exists()


class OwnersRemainFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        """The owners after this save: today's, less those removed or demoted here, plus those added."""
        super().clean()
        owners = set(Membership.objects.filter(org_id=self.instance.pk, role=Role.OWNER).values_list("pk", flat=True))
        if not owners:
            return  # a new organisation, or one that has none: nothing to keep
        for form in self.forms:
            data, membership = form.cleaned_data, form.instance
            if not data:
                continue
            if data.get("DELETE") or data.get("role") != Role.OWNER:
                owners.discard(membership.pk)
            else:
                owners.add(membership.pk)
        if not owners:
            raise forms.ValidationError(LAST_OWNER)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = OwnersRemainFormSet
    extra = 0
    autocomplete_fields = ["user"]


def save_membership_formset(request: HttpRequest, formset: Any) -> None:
    """Each added, changed or removed membership of an organisation's inline, through the services."""
    org, actor = formset.instance, request.user
    # What formset.save() would have recorded, for the admin's change message.
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.forms:
        membership, data = form.instance, form.cleaned_data
        if not data or (membership._state.adding and data.get("DELETE")):
            continue
        if data.get("DELETE"):
            services.member_remove(membership=membership, actor=actor)
            formset.deleted_objects.append(membership)
        elif membership._state.adding:
            added = services.member_add(org=org, actor=actor, user=data["user"], role=data["role"])
            formset.new_objects.append(added)
        elif "role" in form.changed_data:
            stored = Membership.objects.get(pk=membership.pk)
            changed = services.member_change_role(membership=stored, actor=actor, role=data["role"])
            formset.changed_objects.append((changed, ["role"]))


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["org", "user", "role"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk is not None and data.get("role") != Role.OWNER:
            stored = Membership.objects.get(pk=self.instance.pk)
            if _is_last_owner(stored):
                self.add_error("role", LAST_OWNER)
        return data


class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = ["user", "org", "role", "created_at"]
    list_filter = ["role", "org"]
    search_fields = ["user__username", "user__email", "org__slug"]
    autocomplete_fields = ["user", "org"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return ["org", "user"] if obj is not None else []  # a membership changes role, never owner

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and _is_last_owner(obj))

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if not change:
            created = services.member_add(org=obj.org, actor=request.user, user=obj.user, role=obj.role)
            obj.pk, obj.created_at = created.pk, created.created_at
        elif "role" in form.changed_data:
            stored = Membership.objects.get(pk=obj.pk)
            services.member_change_role(membership=stored, actor=request.user, role=obj.role)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.member_remove(membership=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("org", "user"):
            if _is_last_owner(membership):
                messages.error(request, f"{membership.user} stays: {LAST_OWNER}")
                continue
            self.delete_model(request, membership)


def save_team_formset(request: HttpRequest, formset: Any) -> None:
    """Each added, changed or removed team of an organisation's inline, through the services."""
    org, actor = formset.instance, request.user
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.forms:
        team, data = form.instance, form.cleaned_data
        if not data or (team._state.adding and data.get("DELETE")):
            continue
        fields = {name: data[name] for name in ("name", "slug", "description") if name in data}
        if data.get("DELETE"):
            services.team_delete(team=team, actor=actor)
            formset.deleted_objects.append(team)
        elif team._state.adding:
            formset.new_objects.append(services.team_create(org=org, actor=actor, **fields))
        elif form.changed_data:
            changed = {name: fields[name] for name in form.changed_data if name in fields}
            stored = Team.objects.get(pk=team.pk)
            formset.changed_objects.append((services.team_update(team=stored, actor=actor, **changed), list(changed)))
