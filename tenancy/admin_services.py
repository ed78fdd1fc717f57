"""Membership and team editing in the admin goes through tenancy.services, like the API.

So the console keeps the same rules: an organisation keeps at least one owner, a member who
leaves also leaves the organisation's teams and loses their keys there, a deleted team takes its
guardian group with it, and every change is audited as `member.*` or `team.*`. The forms check
the last-owner rule first, so a refusal is a form error rather than an error page; the services
check it again under the organisation's row lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from chatpresets.audited_admin import AuditTrailLinkMixin
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


def _save_through_services(
    formset: Any,
    *,
    add: Callable[[dict[str, Any]], Any],
    change: Callable[[Any, Any], tuple[Any, list[str]] | None],
    remove: Callable[[Any], None],
) -> None:
    """Save an inline formset one object at a time through services, recording what
    formset.save() would have recorded (the admin's change message reads it)."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.forms:
        obj, data = form.instance, form.cleaned_data
        if not data or (obj._state.adding and data.get("DELETE")):
            continue
        if data.get("DELETE"):
            remove(obj)
            formset.deleted_objects.append(obj)
        elif obj._state.adding:
            formset.new_objects.append(add(data))
        elif (changed := change(obj, form)) is not None:
            formset.changed_objects.append(changed)


def save_membership_formset(request: HttpRequest, formset: Any) -> None:
    """Each added, changed or removed membership of an organisation's inline, through the services."""
    org, actor = formset.instance, request.user

    def change(membership: Membership, form: Any) -> tuple[Membership, list[str]] | None:
        if "role" not in form.changed_data:
            return None
        stored = Membership.objects.get(pk=membership.pk)
        return services.member_change_role(membership=stored, actor=actor, role=form.cleaned_data["role"]), ["role"]

    _save_through_services(
        formset,
        add=lambda data: services.member_add(org=org, actor=actor, user=data["user"], role=data["role"]),
        change=change,
        remove=lambda membership: services.member_remove(membership=membership, actor=actor),
    )


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


class MembershipAdmin(AuditTrailLinkMixin, admin.ModelAdmin):
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
    editable = ("name", "slug", "description")

    def change(team: Team, form: Any) -> tuple[Team, list[str]] | None:
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        if not changed:
            return None
        return services.team_update(team=Team.objects.get(pk=team.pk), actor=actor, **changed), list(changed)

    _save_through_services(
        formset,
        add=lambda data: services.team_create(org=org, actor=actor, **{name: data[name] for name in editable}),
        change=change,
        remove=lambda team: services.team_delete(team=team, actor=actor),
    )
