"""The chat pages: starting a conversation, and one conversation. They read through the same
selectors as the API; the answer streams over the conversation's websocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import NotFound
from conversations.models import Conversation
from conversations.selectors import conversation_for_caller, conversations_of
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

SIDEBAR_SIZE = 100


def sidebar(membership: Membership) -> list[Conversation]:
    return list(
        conversations_of(membership=membership).order_by("-updated_at").only("id", "title", "updated_at")[:SIDEBAR_SIZE]
    )


@login_required
def new_chat(request: HttpRequest, org_slug: str) -> HttpResponse:
    membership = page_membership(request, org_slug)
    return render(request, "chat/new.html", _context(membership))


@login_required
def conversation_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    try:
        conversation = conversation_for_caller(membership=membership, conversation_id=pk)
    except NotFound:
        raise Http404("No such conversation") from None
    return render(request, "chat/conversation.html", {**_context(membership), "conversation": conversation})


def _context(membership: Membership) -> dict[str, Any]:
    return {"org": membership.org, "membership": membership, "conversations": sidebar(membership), "section": "chat"}
