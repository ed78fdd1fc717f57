"""The chat pages: one conversation (starting one is pages/start.py). They read through the same
selectors as the API; the answer streams over the conversation's websocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from conversations.pages.conversation import caller_conversation, message_window
from conversations.pages.sidebar import Sidebar, build_sidebar
from tenancy.models import Membership


def sidebar(membership: Membership) -> Sidebar:
    """The sidebar of a full page (its search and "More" come back through pages/sidebar.py)."""
    return build_sidebar(membership)


@login_required
def conversation_page(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, conversation = caller_conversation(request, org_slug, pk)
    window = message_window(membership, conversation, before_seq=None)
    return render(request, "chat/conversation.html", {**_context(membership), "conversation": conversation, **window})


def _context(membership: Membership) -> dict[str, Any]:
    return {"org": membership.org, "membership": membership, "conversations": sidebar(membership), "section": "chat"}
