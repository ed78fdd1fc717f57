"""The chat pages: starting a conversation, and one conversation. They read through the same
selectors as the API; the answer streams over the conversation's websocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from conversations.models import Conversation
from conversations.pages.conversation import caller_conversation, message_window
from conversations.selectors import conversations_of
from tenancy.models import Membership
from tenancy.pages.frame import page_membership

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
    membership, conversation = caller_conversation(request, org_slug, pk)
    window = message_window(membership, conversation, before_seq=None)
    return render(request, "chat/conversation.html", {**_context(membership), "conversation": conversation, **window})


def _context(membership: Membership) -> dict[str, Any]:
    return {"org": membership.org, "membership": membership, "conversations": sidebar(membership), "section": "chat"}
