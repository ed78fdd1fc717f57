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

from chatpresets.errors import DomainError, InvalidInput, NotFound
from conversations import outside_presets
from conversations.api.serializers import OutsideConversationSerializer
from conversations.models import Conversation
from presets.pages.access import membership_acting_in, refused
from presets.pages.public import closed
from tenancy.permissions import Perm

VARIABLE_PREFIX = "var-"


def _body(request: HttpRequest) -> dict[str, Any]:
    """The form as the API's body, checked by its serializer; variables left blank take their defaults."""
    variables = {
        key.removeprefix(VARIABLE_PREFIX): value
        for key, value in request.POST.items()
        if key.startswith(VARIABLE_PREFIX) and value
    }
    body = {"variables": variables, **({"org": request.POST["org"]} if request.POST.get("org") else {})}
    serializer = OutsideConversationSerializer(data=body)
    if not serializer.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in serializer.errors.items()}
        raise InvalidInput("Check the highlighted fields.", details={"fields": fields})
    return dict(serializer.validated_data)


def _opened(conversation: Conversation) -> HttpResponse:
    return redirect("chat", org_slug=conversation.org.slug, pk=conversation.pk)


@require_POST
@login_required
def gallery_chat(request: HttpRequest, pk: Any) -> HttpResponse:
    try:
        data = _body(request)
        membership = membership_acting_in(request, data.pop("org", None), Perm.CHAT)
        conversation = outside_presets.conversation_from_gallery(membership=membership, preset_id=pk, **data)
    except NotFound:
        raise Http404("No such preset in the gallery") from None
    except DomainError as error:
        return refused(request, error)
    return _opened(conversation)


@require_POST
@login_required
def link_chat(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = _body(request)
        membership = membership_acting_in(request, data.pop("org", None), Perm.CHAT)
        conversation = outside_presets.conversation_from_link(membership=membership, token=token, **data)
    except NotFound:
        return closed(request, token)
    except DomainError as error:
        return refused(request, error)
    return _opened(conversation)
