"""One preset's page (its content and versions), the diff of two versions, and its lifecycle actions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, InvalidInput, PresetNotApproved, SafetyFindingsBlocked
from presets.api import serializers as s
from presets.api.presenters import preset_detail
from presets.labels import labels_of
from presets.models import Preset, Scope, Status
from presets.pages.access import form_data, preset_page, refused
from presets.pages.listing import frame
from presets.pages.side_by_side import side_by_side
from presets.prompt_reads import record_prompt_read
from presets.selectors import Access, preset_trash, readable_version, version_content, version_diff, versions_readable
from presets.services import lifecycle, review
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

WRITE = Perm.PRESETS_WRITE
SUBMITTABLE = (Status.DRAFT, Status.REJECTED)


def _to_page(preset: Preset) -> HttpResponse:
    return redirect("preset-page", org_slug=preset.org.slug, pk=preset.pk)


@login_required
def preset_detail_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, access = preset_page(request, org_slug, pk, minimum=Access.USE)
    # Versions are `view` reading, as the API's versions routes: a `use` grantee runs the preset only.
    versions = list(versions_readable(preset=preset, access=access)[:100]) if access >= Access.VIEW else []
    record_prompt_read(preset=preset, access=access, reader=request.user, versions=[readable_version(preset, access)])
    context = frame(
        membership,
        preset=preset,
        detail=preset_detail(preset, access),
        may_view=access >= Access.VIEW,
        may_edit=access >= Access.EDIT,
        may_manage=access >= Access.MANAGE,
        versions=versions,
        labels=labels_of(preset=preset),
        may_submit=access >= Access.EDIT and preset.scope != Scope.PRIVATE and preset.status in SUBMITTABLE,
    )
    return render(request, "presets/detail.html", context)


def _readable(preset: Preset, access: Access, key: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
        raise InvalidInput("Choose two versions to compare.", details={"field": key})
    if not versions_readable(preset=preset, access=access).filter(number=int(raw)).exists():
        raise Http404("No such version")
    return int(raw)


@login_required
def diff_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """`?a=` the older and `?b=` the newer version; the prompt's diff is bounded by presets.diff."""
    membership, preset, access = preset_page(request, org_slug, pk, minimum=Access.VIEW)
    try:
        first, second = [_readable(preset, access, key, request.GET.get(key, "")) for key in ("a", "b")]
    except InvalidInput as error:
        return refused(request, error, org=membership.org)
    older, newer = min(first, second), max(first, second)
    record_prompt_read(preset=preset, access=access, reader=request.user, versions=[older, newer])
    contents = [version_content(preset_id=preset.pk, number=n) for n in (older, newer)]
    diff = version_diff(older=contents[0], newer=contents[1], older_label=f"v{older}", newer_label=f"v{newer}")
    context = frame(
        membership,
        preset=preset,
        older=older,
        newer=newer,
        older_label=f"v{older}",
        newer_label=f"v{newer}",
        rows=side_by_side(diff["prompt_diff"]),
        changed=diff["changed"],
        versions=versions_readable(preset=preset, access=access).values_list("number", flat=True)[:100],
    )
    return render(request, "presets/diff.html", context)


@require_POST
@login_required
def revert(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.EDIT, needs=WRITE)
    try:
        number = form_data(s.RevertSerializer, request)["version"]
        content = version_content(preset_id=preset.pk, number=number) if number <= preset.version else None
        if content is None:
            raise Http404(f"Version {number} does not exist.")
        preset = lifecycle.preset_revert(preset=preset, actor=request.user, content=content, number=number)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Reverted to version {number}: it is now version {preset.version}.")
    return _to_page(preset)


@require_POST
@login_required
def clone(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """A private copy of the version the caller may read, as `POST /presets/{id}/clone/`."""
    membership, source, access = preset_page(request, org_slug, pk, minimum=Access.VIEW, needs=WRITE)
    try:
        data = form_data(s.CloneSerializer, request)
        number = readable_version(source, access)
        if number is None:
            raise PresetNotApproved()
        content = version_content(preset_id=source.pk, number=number)
        copy = lifecycle.preset_clone(
            source=source, content=content, version=number, org=membership.org, actor=request.user, **data
        )
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Cloned {source.name} v{number} into your presets.")
    return _to_page(copy)


@require_POST
@login_required
def delete(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    _, preset, _ = preset_page(request, org_slug, pk, minimum=Access.MANAGE, needs=WRITE)
    lifecycle.preset_delete(preset=preset, actor=request.user)
    messages.success(request, f"{preset.name} is in the trash; restore it from there.")
    return redirect("presets-page", org_slug=org_slug)


@require_POST
@login_required
def restore(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=WRITE)
    preset = preset_trash(membership=membership).filter(pk=pk).first()
    if preset is None:
        raise Http404("No such preset in your trash")
    try:
        preset = lifecycle.preset_restore(preset=preset, actor=request.user)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"{preset.name} is restored.")
    return _to_page(preset)


@require_POST
@login_required
def submit(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.EDIT, needs=WRITE)
    try:
        version, blocked = review.preset_submit(preset=preset, actor=request.user)
        if blocked:
            raise SafetyFindingsBlocked(details={"version": version.number, "findings": version.findings})
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Version {version.number} is submitted for review.")
    return _to_page(preset)
