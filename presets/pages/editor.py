"""The preset editor: create, or save a new version of, a preset through the API's serializer and services.

Refusals are shown on the form with the API's code and message (unknown_model, too_large,
context_budget_too_small, …) and its status; "Save and submit" also submits the new version.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, Forbidden, InvalidInput
from chatpresets.llm.catalogue import catalogue, default_model
from chatpresets.llm.cost_controls import controls_for
from chatpresets.llm.tokens import count_text
from presets.api.presenters import preset_detail
from presets.api.serializers import PresetWriteSerializer
from presets.models import Preset, Scope
from presets.pages.access import preset_page
from presets.pages.editor_form import body_from_form, fields_from_body
from presets.pages.listing import frame
from presets.selectors import Access
from presets.services import lifecycle, review
from tenancy.models import Membership, Organization, Team
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

WRITE = Perm.PRESETS_WRITE
METADATA = ("name", "slug", "description", "tags", "scope")


def _validated(body: dict[str, Any], org: Organization) -> dict[str, Any]:
    serializer = PresetWriteSerializer(data=body, context={"org": org})
    if not serializer.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in serializer.errors.items()}
        raise InvalidInput("Check the highlighted fields.", details={"fields": fields})
    return dict(serializer.validated_data)


def field_errors(error: DomainError | None) -> dict[str, list[str]]:
    """Messages by form field: the serializer's, or the service's one `details.field` (`policy.x` → policy)."""
    if error is None:
        return {}
    if "fields" in error.details:
        return error.details["fields"]
    field = str(error.details.get("field", "")).split(".")[0]
    return {field: [error.message]} if field else {}


def _models(org: Organization, current: str | None) -> list[str]:
    allowed = controls_for(org.settings).visible_models()
    return allowed if not current or current in allowed else [current, *allowed]


def _editor(
    request: HttpRequest,
    membership: Membership,
    body: dict[str, Any],
    *,
    preset: Preset | None = None,
    error: DomainError | None = None,
) -> HttpResponse:
    context = frame(
        membership,
        preset=preset,
        form=fields_from_body(body),
        error=error,
        errors=field_errors(error),
        models=_models(membership.org, body.get("model")),
        scopes=Scope.choices,
        teams=Team.objects.for_org(membership.org).order_by("name"),
        prompt_limit=settings.PRESET_PROMPT_MAX_CHARS,
    )
    return render(request, "presets/editor.html", context, status=error.status_code if error else 200)


def _saved(request: HttpRequest, preset: Preset) -> HttpResponse:
    if "submit" in request.POST and preset.scope != Scope.PRIVATE:
        try:
            version, blocked = review.preset_submit(preset=preset, actor=request.user)
        except DomainError as error:
            messages.warning(request, f"Saved, but not submitted: {error.message}")
        else:
            note = "kept in draft: fix the safety findings first" if blocked else "submitted for review"
            messages.success(request, f"Saved version {version.number}, {note}.")
    else:
        messages.success(request, f"Saved version {preset.version}.")
    return redirect("preset-page", org_slug=preset.org.slug, pk=preset.pk)


@login_required
def new_preset(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=WRITE)
    if request.method != "POST":
        allowed = controls_for(membership.org.settings).visible_models()
        model = default_model() if default_model() in allowed else next(iter(allowed), "")
        return _editor(request, membership, {"scope": Scope.PRIVATE, "model": model})
    body = body_from_form(request.POST, params={}, policy={})
    try:
        data = _validated(body, membership.org)
        reason = data.pop("change_reason", "") or "created"
        preset = lifecycle.preset_create(org=membership.org, actor=request.user, change_reason=reason, **data)
    except DomainError as error:
        return _editor(request, membership, body, error=error)
    return _saved(request, preset)


def _changes(preset: Preset, data: dict[str, Any]) -> dict[str, Any]:
    """Every content field (the service makes a version only if one changed); details only when changed."""
    changes = {field: data[field] for field in ("system_prompt", "model", "params", "variables", "policy")}
    changes |= {field: data[field] for field in METADATA if field in data and data[field] != getattr(preset, field)}
    team = data.get("team")
    if (team.pk if team else None) != preset.team_id:
        changes["team"] = team
    if data.get("change_reason"):
        changes["change_reason"] = data["change_reason"]
    return changes


@login_required
def edit_preset(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, access = preset_page(request, org_slug, pk, minimum=Access.EDIT, needs=WRITE)
    if request.method != "POST":
        body = {**preset_detail(preset, access), "team": preset.team_id}
        return _editor(request, membership, body, preset=preset)
    body = body_from_form(request.POST, params=preset.params, policy=preset.policy)
    try:
        changes = _changes(preset, _validated(body, membership.org))
        if {"scope", "team"} & set(changes) and access < Access.MANAGE:
            raise Forbidden("Only the preset's owner or an org admin changes its scope or team.")
        preset = lifecycle.preset_update(preset=preset, actor=request.user, **changes)
    except DomainError as error:
        return _editor(request, membership, body, preset=preset, error=error)
    return _saved(request, preset)


@require_POST
@login_required
def token_count(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The draft prompt's tokens in the chosen model's encoding (the one tokenizer the service uses)."""
    membership = page_membership(request, org_slug, needs=WRITE)
    limit = settings.PRESET_PROMPT_MAX_CHARS
    prompt = request.POST.get("system_prompt", "")
    if "\x00" in prompt:  # no prompt may hold one (PostgreSQL text cannot), so none is counted
        return HttpResponseBadRequest("Null characters are not allowed.")
    spec = catalogue().get(request.POST.get("model", "")) or catalogue()[default_model()]
    context = {
        "tokens": count_text(prompt[:limit], spec.encoding),
        "too_long": len(prompt) > limit,
        "limit": limit,
        "window": controls_for(membership.org.settings).context_window(spec),
        "model": spec.name,
    }
    return render(request, "presets/_token_count.html", context)
