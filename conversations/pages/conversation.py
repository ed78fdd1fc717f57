"""The conversation page's parts: a window of messages (older pages load as the reader scrolls up)
and the Context panel, both through the API's selectors and services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatpresets.errors import DomainError, NotFound
from conversations import services
from conversations.feedback import votes_in
from conversations.models import Conversation
from conversations.selectors import conversation_for_caller, shown_messages
from tenancy.models import Membership
from tenancy.pages.frame import page_membership
from tenancy.permissions import Perm

FIRST_PAGE = 30  # what the page paints at once: a 500-message conversation must open fast
OLDER_PAGE = 50
MAX_SEQ = 2**31 - 1  # the column's range: a longer number in the query string reads as "from the newest"


def caller_conversation(request: HttpRequest, org_slug: str, pk: Any) -> tuple[Membership, Conversation]:
    membership = page_membership(request, org_slug, needs=Perm.CHAT)
    try:
        return membership, conversation_for_caller(membership=membership, conversation_id=pk)
    except NotFound:
        raise Http404("No such conversation") from None


def message_window(membership: Membership, conversation: Conversation, *, before_seq: int | None) -> dict[str, Any]:
    """A page of messages with the caller's votes, and whether older ones remain."""
    limit = FIRST_PAGE if before_seq is None else OLDER_PAGE
    messages = shown_messages(conversation, before_seq=before_seq, limit=limit + 1)
    has_more = len(messages) > limit
    messages = messages[1:] if has_more else messages
    votes = votes_in(membership=membership, conversation=conversation, message_ids=[m.pk for m in messages])
    for message in messages:
        message.vote = votes.get(str(message.pk), "")
        message.pii_entities = sorted((message.pii or {}).get("entities", {}).items())
    return {"messages": messages, "has_more": has_more, "oldest_seq": messages[0].seq if messages else None}


@login_required
def older_messages(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, conversation = caller_conversation(request, org_slug, pk)
    before = request.GET.get("before_seq", "")
    before_seq = min(int(before), MAX_SEQ) if before.isdigit() else None
    window = message_window(membership, conversation, before_seq=before_seq)
    context = {"org": membership.org, "conversation": conversation, **window}
    return render(request, "chat/_older_messages.html", context)


@login_required
def context_panel(request: HttpRequest, org_slug: str, pk: Any) -> HttpResponse:
    membership, conversation = caller_conversation(request, org_slug, pk)
    try:
        preview, error = services.context_preview(conversation=conversation, membership=membership), None
    except DomainError as refusal:  # e.g. the preset has no version the caller may use: say so in the panel
        preview, error = None, refusal
    return render(request, "chat/_context.html", {"preview": preview, "error": error, "conversation": conversation})
