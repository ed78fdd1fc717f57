"""How preset pages reach a preset: the API's selectors, with its answers as page responses.

A preset the caller cannot see is the page's 404 (as the API's), one they see below the level a
page needs is a 403; a refused action renders the API's error code and message with its status.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import DomainError, Forbidden, InvalidInput, NotFound
from presets.api.base import require
from presets.models import Preset
from presets.selectors import Access, preset_for_caller
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm, role_has
from tenancy.selectors import membership_to_act_in


def preset_in_page(membership: Membership, pk: Any, minimum: Access) -> tuple[Preset, Access]:
    try:
        preset, access = preset_for_caller(membership=membership, preset_id=pk)
        require(access, minimum)
    except NotFound:
        raise Http404("No such preset") from None
    except Forbidden as error:
        raise PermissionDenied(error.message) from None
    return preset, access


def preset_page(
    request: HttpRequest, org_slug: str, pk: Any, *, minimum: Access, needs: Perm = Perm.PRESETS_READ
) -> tuple[Membership, Preset, Access]:
    """The role check first (403), then the preset (404 when invisible), as the API orders them."""
    membership = page_membership(request, org_slug, needs=needs)
    preset, access = preset_in_page(membership, pk, minimum)
    return membership, preset, access


def refused(request: HttpRequest, error: DomainError, **context: Any) -> HttpResponse:
    """The API's refusal of an action, as a page: its code, its message, its status."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    body = {"error": error, "section": "presets", **context}
    return render(request, "presets/refused.html", body, status=error.status_code)


def form_data(serializer_class: type, request: HttpRequest, **context: Any) -> dict[str, Any]:
    """The POSTed form checked by the API's serializer for the same action; its errors are `invalid`."""
    # A blank field is an absent one, as in a JSON body that leaves it out.
    data = {key: value for key, value in request.POST.items() if value.strip() and key != "csrfmiddlewaretoken"}
    return checked(serializer_class, data, **context)


def checked(serializer_class: type, data: dict[str, Any], **context: Any) -> dict[str, Any]:
    """`data` checked by the API's serializer; its errors are `invalid`, field by field."""
    serializer = serializer_class(data=data, context=context)
    if not serializer.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in serializer.errors.items()}
        raise InvalidInput("Check the highlighted fields.", details={"fields": fields})
    return dict(serializer.validated_data)


def membership_acting_in(request: HttpRequest, org_slug: str | None, perm: Perm) -> Membership:
    """For pages outside an organisation that act in one of the caller's (clone into, chat in): the
    API's rule (404 for a foreign or unknown `org`, then 403 when the role there lacks `perm`)."""
    try:
        membership = membership_to_act_in(user=request.user, org_slug=org_slug, api_key=None)
    except NotFound:
        raise Http404("No such organisation") from None
    if not role_has(membership.role, perm):
        raise PermissionDenied("Your role in that organisation does not allow this.")
    return membership


def memberships_allowing(user: Any, perm: Perm) -> list[Membership]:
    """The caller's organisations where their role allows `perm`, for a page's organisation choice."""
    memberships = Membership.objects.filter(user=user).select_related("org").order_by("org__name")
    return [m for m in memberships if role_has(m.role, perm)]
