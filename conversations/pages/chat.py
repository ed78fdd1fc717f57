"""The chat pages: one conversation (starting one is pages/start.py). They read through the same
selectors as the API; the answer streams over the conversation's websocket."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import NotFound
from conversations.pages.sidebar import Sidebar, build_sidebar
from conversations.selectors import conversation_for_caller
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm


def sidebar(membership: Membership) -> Sidebar:
    """The sidebar of a full page (its search and "More" come back through pages/sidebar.py)."""
    return build_sidebar(membership)


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
