"""The label forms of a preset's page: move a label to a version, delete a moved label.

The rules (who may move which label, to which version) are presets.labels', as through the API.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST
from rest_framework import serializers

from chatpresets.errors import DomainError
from presets import labels
from presets.api.labels import LabelMoveSerializer
from presets.pages.access import form_data, preset_page, refused
from presets.selectors import Access
from tenancy.org_settings import LABEL_NAME
from tenancy.permissions import Perm


class LabelFormSerializer(LabelMoveSerializer):
    name = serializers.RegexField(LABEL_NAME, max_length=40)


@require_POST
@login_required
def move(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.USE, needs=Perm.PRESETS_WRITE)
    try:
        data = form_data(LabelFormSerializer, request)
        labels.label_move(preset=preset, name=data["name"], version=data["version"], actor=request.user)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Label {data['name']} now points at version {data['version']}.")
    return redirect("preset-page", org_slug=org_slug, pk=preset.pk)


@require_POST
@login_required
def delete(request: HttpRequest, org_slug: str, pk: Any, name: str) -> HttpResponse:
    membership, preset, _ = preset_page(request, org_slug, pk, minimum=Access.USE, needs=Perm.PRESETS_WRITE)
    try:
        labels.label_delete(preset=preset, name=name, actor=request.user)
    except DomainError as error:
        return refused(request, error, org=membership.org)
    messages.success(request, f"Label {name} is deleted.")
    return redirect("preset-page", org_slug=org_slug, pk=preset.pk)
