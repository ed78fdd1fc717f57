"""Starting a chat with a preset shown by the public gallery or a share link (pages outside any organisation).

The conversation belongs to the organisation the caller picks, as `POST /gallery/{id}/conversations/`
and `POST /links/{token}/conversations/`: the same services, the same `chat` permission there.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from chatpresets.errors import DomainError, NotFound
from conversations import outside_presets
from conversations.models import Conversation
from presets.pages.access import membership_acting_in, refused
from presets.pages.public import closed
from tenancy.permissions import Perm

VARIABLE_PREFIX = "var-"


def _variables(request: HttpRequest) -> dict[str, str]:
    """The variable fields the caller filled in; the ones left blank take their defaults."""
    return {
        key.removeprefix(VARIABLE_PREFIX): value
        for key, value in request.POST.items()
        if key.startswith(VARIABLE_PREFIX) and value
    }


def _opened(conversation: Conversation) -> HttpResponse:
    return redirect("chat", org_slug=conversation.org.slug, pk=conversation.pk)


@require_POST
@login_required
def gallery_chat(request: HttpRequest, pk: Any) -> HttpResponse:
    try:
        membership = membership_acting_in(request, request.POST.get("org") or None, Perm.CHAT)
        conversation = outside_presets.conversation_from_gallery(
            membership=membership, preset_id=pk, variables=_variables(request)
        )
    except NotFound:
        raise Http404("No such preset in the gallery") from None
    except DomainError as error:
        return refused(request, error)
    return _opened(conversation)


@require_POST
@login_required
def link_chat(request: HttpRequest, token: str) -> HttpResponse:
    try:
        membership = membership_acting_in(request, request.POST.get("org") or None, Perm.CHAT)
        conversation = outside_presets.conversation_from_link(
            membership=membership, token=token, variables=_variables(request)
        )
    except NotFound:
        return closed(request, token)
    except DomainError as error:
        return refused(request, error)
    return _opened(conversation)
