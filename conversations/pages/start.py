"""Starting a chat (pick a preset, fill its variables, pin or follow) and upgrading a conversation to
its preset's newest approved version. Both write through the services the API's routes call."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chatpresets.errors import DomainError, InvalidInput, NotFound
from conversations import services
from conversations.api.serializers import ConversationCreateSerializer
from conversations.pages.chat import sidebar
from conversations.pages.picker import Choice, build_picker, choose
from conversations.pages.sidebar import own_conversation
from presets.models import Preset
from tenancy.models import Membership
from tenancy.pages.forms import validated
from tenancy.pages.frame import page_membership
from tenancy.pages.hidden import address
from tenancy.pages.methods import page_methods
from tenancy.permissions import Perm, role_has

VARIABLE_PREFIX = "var_"
QUERY_MAX = 200
MAX_VERSION = 2**31 - 1


def _choice(request: HttpRequest, membership: Membership, preset_id: str) -> Choice | None:
    """None for "no preset"; a page 404 for a preset the caller may not use, as the API's, and a 400 for
    what is not a preset id at all (the API's serializer refuses it the same way)."""
    if not preset_id:
        return None
    try:
        wanted = uuid.UUID(preset_id)
    except ValueError:
        raise BadRequest("Not a preset id.") from None
    address(request, Preset, wanted)  # another organisation's preset: the 404 is recorded as a denial
    try:
        return choose(membership, wanted)
    except NotFound:
        raise Http404("No such preset") from None


def _form(
    membership: Membership,
    choice: Choice | None,
    *,
    values: dict[str, str] | None = None,
    follow: str = "pin",
    label: str = "",
    error: str = "",
) -> dict[str, Any]:
    """What the start form shows (alone for htmx, or inside the page)."""
    fields = _fields(choice, values)
    return {"org": membership.org, "choice": choice, "follow": follow, "label": label, "fields": fields, "error": error}


def _page(request: HttpRequest, membership: Membership, form: dict[str, Any]) -> dict[str, Any]:
    can_chat = role_has(membership.role, Perm.CHAT)
    query = request.GET.get("q", "")[:QUERY_MAX]
    return {
        **form,
        "membership": membership,
        "section": "chat",
        "can_chat": can_chat,
        "conversations": sidebar(membership) if can_chat else None,
        "picker": build_picker(membership, query=query) if can_chat else None,
        "q": query,
    }


def _fields(choice: Choice | None, values: dict[str, str] | None) -> list[dict[str, Any]]:
    """The chosen version's variables, each with what the form shows: the value sent, else the default."""
    if choice is None:
        return []
    sent = values or {}
    return [{**v, "value": sent.get(v["name"], v["default"] or "")} for v in choice.variables]


@login_required
@page_methods("GET")
def new_chat(request: HttpRequest, org_slug: str) -> HttpResponse:
    """The picker and the start form; `?preset=` picks one (an htmx click swaps in the form only)."""
    membership = page_membership(request, org_slug)
    if not role_has(membership.role, Perm.CHAT):
        return render(request, "chat/new.html", _page(request, membership, _form(membership, None)))
    form = _form(membership, _choice(request, membership, request.GET.get("preset", "")))
    if request.htmx and request.htmx.target == "start-panel":
        return render(request, "chat/_start_form.html", form)
    return render(request, "chat/new.html", _page(request, membership, form))


@login_required
@page_methods("GET")
def picker(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    query = request.GET.get("q", "")[:QUERY_MAX]
    context = {"org": membership.org, "picker": build_picker(membership, query=query), "q": query}
    return render(request, "chat/_picker.html", context)


def _variables(request: HttpRequest) -> dict[str, str]:
    posted = request.POST.items()
    return {key.removeprefix(VARIABLE_PREFIX): value for key, value in posted if key.startswith(VARIABLE_PREFIX)}


def _version(request: HttpRequest, choice: Choice | None) -> int | None:
    if choice is None or request.POST.get("follow") in ("latest", "label"):
        return None
    number = version_number(request.POST.get("version", ""))
    if number is None:
        raise InvalidInput("Choose the version to pin.", details={"field": "version"})
    return number


def _label(request: HttpRequest) -> str:
    """The label to follow ("" unless the form says follow a label), checked by the API's serializer."""
    if request.POST.get("follow") != "label":
        return ""
    label = request.POST.get("label", "")
    if not label:
        raise InvalidInput("Choose the label to follow.", details={"field": "preset_label"})
    return validated(ConversationCreateSerializer, {"preset_label": label})["preset_label"]


def version_number(raw: str) -> int | None:
    """A version as typed, or None: digits only, and within the column's range (else a database error)."""
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_VERSION:
        return None
    return int(raw)


@login_required
@page_methods("POST")
def start(request: HttpRequest, org_slug: str) -> HttpResponse:
    """Creates the conversation as POST …/conversations/ does; on a refusal, the form again with why."""
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    choice = _choice(request, membership, request.POST.get("preset", ""))
    variables = _variables(request)
    try:
        conversation = services.conversation_create(
            membership=membership,
            preset=choice.preset if choice else None,
            preset_version=_version(request, choice),
            preset_label=_label(request),
            variables=variables,
        )
    except DomainError as error:
        follow, label = request.POST.get("follow", "pin"), request.POST.get("label", "")
        form = _form(membership, choice, values=variables, follow=follow, label=label, error=error.message)
        return render(request, "chat/new.html", _page(request, membership, form), status=error.status_code)
    return redirect("chat", org_slug=org_slug, pk=conversation.pk)


@login_required
@page_methods("POST")
def upgrade(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    """Pins the conversation's preset at the newest approved version (the API's apply-preset action)."""
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    conversation = own_conversation(membership, pk)
    preset: Preset | None = conversation.preset
    context: dict[str, Any] = {"org": membership.org, "conversation": conversation}
    if preset is None or preset.approved_version is None:
        return render(request, "chat/_upgrade_banner.html", context)
    number = version_number(request.POST.get("version", str(preset.approved_version)))
    if number is None:
        context["error"] = "Choose a version number to upgrade to."
        return render(request, "chat/_upgrade_banner.html", context, status=400)
    try:
        conversation = services.conversation_apply_preset(
            conversation=conversation,
            membership=membership,
            preset=preset,
            version=number,
            variables=conversation.variables,
        )
    except DomainError as error:
        context["error"] = error.message
        return render(request, "chat/_upgrade_banner.html", context, status=error.status_code)
    if not request.htmx:
        return redirect("chat", org_slug=org_slug, pk=conversation.pk)
    return render(request, "chat/_upgrade_banner.html", {**context, "upgraded": number})
