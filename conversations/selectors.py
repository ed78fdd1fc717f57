"""Reads for conversations, always scoped to the caller's organisation and to the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chatpresets.errors import NotFound
from conversations.context import HistoryMessage, paged
from conversations.models import Conversation, Message, MessageStatus
from tenancy.models import Membership

IN_CONTEXT = [MessageStatus.COMPLETE, MessageStatus.INTERRUPTED, MessageStatus.CANCELLED]


def conversations_of(*, membership: Membership) -> Any:
    return Conversation.objects.for_org(membership.org).alive().filter(user_id=membership.user_id)


def conversation_for_caller(*, membership: Membership, conversation_id: Any) -> Conversation:
    """The caller's own live conversation in this organisation, or 404."""
    conversation = conversations_of(membership=membership).filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound()
    return conversation


def history_reader(conversation: Conversation) -> Iterator[HistoryMessage]:
    """Messages after the summary, newest first, read one small page at a time as the planner asks."""
    base = Message.objects.filter(
        conversation_id=conversation.pk, seq__gt=conversation.summary_through_seq, status__in=IN_CONTEXT
    ).exclude(content="")

    def fetch(before: int | None, limit: int) -> list[HistoryMessage]:
        rows = base.filter(seq__lt=before) if before is not None else base
        values = rows.order_by("-seq").values_list("seq", "role", "content", "token_count")[:limit]
        return [HistoryMessage(*row) for row in values]

    return paged(fetch)
