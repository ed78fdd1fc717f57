"""The review queue: each pending version with its diff against the approved one and its safety findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError
from presets.api import serializers as s
from presets.models import CONTENT_FIELDS, PresetVersion
from presets.pages.access import form_data, preset_page, refused
from presets.pages.listing import frame
from presets.pages.side_by_side import Row, side_by_side
from presets.selectors import Access, version_content, version_diff
from presets.services import review
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

QUEUE_PAGE = 20
NOTHING: dict[str, Any] = dict.fromkeys(CONTENT_FIELDS) | {"system_prompt": ""}


@dataclass
class QueueItem:
    version: PresetVersion
    against: int | None  # the approved version it is compared with; None for a first review
    rows: list[Row]
    changed: dict[str, Any]

    @property
    def older_label(self) -> str:
        return f"approved v{self.against}" if self.against else "nothing approved"

    @property
    def newer_label(self) -> str:
        return f"v{self.version.number}"


def _item(version: PresetVersion) -> QueueItem:
    preset = version.preset
    against = preset.approved_version
    older = version_content(preset_id=preset.pk, number=against) if against else None
    newer = version_content(preset_id=preset.pk, number=version.number)
    diff = version_diff(
        older=older or NOTHING, newer=newer, older_label=f"v{against or 0}", newer_label=f"v{version.number}"
    )
    # A first version is compared with nothing: list only the settings it sets.
    changed = {field: change for field, change in diff["changed"].items() if against or change["after"]}
    return QueueItem(version, against, side_by_side(diff["prompt_diff"]), changed)


@login_required
def review_queue(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.PRESETS_WRITE)
    pending = review.review_queue(membership=membership)
    context = frame(membership, items=[_item(v) for v in pending[:QUEUE_PAGE]], total=pending.count(), section="review")
    return render(request, "presets/review.html", context)


def _decide(request: HttpRequest, org_slug: str, pk: Any, *, approve: bool) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.VIEW, needs=Perm.PRESETS_WRITE)
    try:
        data = form_data(s.ApproveSerializer if approve else s.RejectSerializer, request)
        decide = review.preset_approve if approve else review.preset_reject
        version = decide(preset=preset, actor=request.user, number=data["version"], comment=data["comment"])
    except DomainError as error:
        return refused(request, error, org=membership.org)
    verb = "approved" if approve else "rejected"
    messages.success(request, f"{preset.name} v{version.number} is {verb}.")
    return redirect("presets-review-page", org_slug=org_slug)


@require_POST
@login_required
def approve(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    return _decide(request, org_slug, pk, approve=True)


@require_POST
@login_required
def reject(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    return _decide(request, org_slug, pk, approve=False)
