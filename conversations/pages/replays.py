"""Replay pages: a preset's replays with the start form (a fragment the review page loads with htmx,
since presets may not import conversations), and one replay's answers side by side, refreshed while it
runs. They call the same services and selectors as the API."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, Forbidden
from conversations.api.replay_serializers import PromptSetWriteSerializer, ReplayStartSerializer
from conversations.replays import services
from conversations.replays.models import Replay
from conversations.replays.selectors import item_difference, prompt_sets_of, replay_totals, replays_of
from presets.models import Preset
from presets.pages.access import checked, form_data, preset_in_page, refused
from presets.pages.listing import frame
from presets.selectors import Access
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

LISTED = 10


def _reviewed(request: HttpRequest, org_slug: str, preset_id: Any) -> tuple[Membership, Preset]:
    """The role check (403), the preset (404 when unseen), then the right to review it (403)."""
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_WRITE)  # as approving: may_review decides
    preset, _ = preset_in_page(membership, preset_id, Access.USE)
    try:
        services.require_reviewer(preset=preset, actor=request.user)
    except Forbidden as error:
        raise PermissionDenied(error.message) from None
    return membership, preset


def _replay_of(preset: Preset, pk: Any) -> Replay:
    replay = replays_of(preset=preset).filter(pk=pk).first()
    if replay is None:
        raise Http404("No such replay")
    return replay


@login_required
def review_fragment(request: HttpRequest, org_slug: str, preset_id: Any) -> HttpResponse:
    """The preset's latest replays and the form to start one, for the review page."""
    membership, preset = _reviewed(request, org_slug, preset_id)
    context = frame(
        membership,
        preset=preset,
        replays=replays_of(preset=preset)[:LISTED],
        prompt_sets=prompt_sets_of(preset=preset),
        budget_limit=services.budget_limit(org_settings=membership.org.settings),
        version=_version_asked(request),
    )
    return render(request, "replays/_for_review.html", context)


def _version_asked(request: HttpRequest) -> int | None:
    """The pending version the review page shows (`?version=`), which the form replays; else the newest."""
    asked = request.GET.get("version", "")
    return int(asked) if re.fullmatch(r"[1-9][0-9]{0,8}", asked) else None


@require_POST
@login_required
def start(request: HttpRequest, org_slug: str, preset_id: Any) -> HttpResponse:
    membership, preset = _reviewed(request, org_slug, preset_id)
    try:
        data = form_data(ReplayStartSerializer, request)
        replay = services.replay_start(preset=preset, actor=request.user, **data)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    return redirect("replay-page", org_slug=org_slug, preset_id=preset.pk, pk=replay.pk)


@login_required
def replay_page(request: HttpRequest, org_slug: str, preset_id: Any, pk: Any) -> HttpResponse:
    """Both answers of every item with their differences; htmx asks for the items again while it runs."""
    membership, preset = _reviewed(request, org_slug, preset_id)
    replay = _replay_of(preset, pk)
    items = list(replay.items.order_by("position"))
    rows = [{"item": item, "difference": item_difference(item)} for item in items]
    context = frame(membership, preset=preset, replay=replay, rows=rows, totals=replay_totals(items), tab="review")
    template = "replays/_items.html" if request.headers.get("HX-Request") else "replays/detail.html"
    return render(request, template, context)


@require_POST
@login_required
def prompt_set_create(request: HttpRequest, org_slug: str, preset_id: Any) -> HttpResponse:
    """Save a prompt set from the review page's form: one prompt per line of the text box."""
    membership, preset = _keeper(request, org_slug, preset_id)
    lines = [line.strip() for line in request.POST.get("prompts", "").splitlines()]
    data = {"name": request.POST.get("name", "").strip(), "prompts": [line for line in lines if line]}
    try:
        prompt_set = services.prompt_set_create(
            preset=preset, actor=request.user, **checked(PromptSetWriteSerializer, data)
        )
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Prompt set {prompt_set.name} saved with {len(prompt_set.prompts)} prompts.")
    return redirect("presets-review-page", org_slug=org_slug)


@require_POST
@login_required
def prompt_set_delete(request: HttpRequest, org_slug: str, preset_id: Any, pk: Any) -> HttpResponse:
    _, preset = _keeper(request, org_slug, preset_id)
    prompt_set = prompt_sets_of(preset=preset).filter(pk=pk).first()
    if prompt_set is None:
        raise Http404("No such prompt set")
    services.prompt_set_delete(prompt_set=prompt_set, actor=request.user)
    messages.success(request, f"Prompt set {prompt_set.name} deleted.")
    return redirect("presets-review-page", org_slug=org_slug)


def _keeper(request: HttpRequest, org_slug: str, preset_id: Any) -> tuple[Membership, Preset]:
    """As the API: the role check (403), the preset (404 when unseen), then its editors and reviewers (403)."""
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_WRITE)
    preset, _ = preset_in_page(membership, preset_id, Access.USE)
    if not services.may_edit_prompt_sets(preset=preset, membership=membership):
        raise PermissionDenied("Prompt sets are kept by the preset's editors and reviewers.")
    return membership, preset


@require_POST
@login_required
def cancel(request: HttpRequest, org_slug: str, preset_id: Any, pk: Any) -> HttpResponse:
    membership, preset = _reviewed(request, org_slug, preset_id)
    replay = _replay_of(preset, pk)
    try:
        services.replay_cancel(replay=replay, actor=request.user)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    return redirect("replay-page", org_slug=org_slug, preset_id=preset.pk, pk=replay.pk)
