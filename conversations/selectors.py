"""Reads for conversations, always scoped to the caller's organisation and to the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError

from chatpresets.errors import NotFound
from conversations.context import HistoryEntry, HistoryMessage, paged
from conversations.models import Conversation, Message, MessageStatus
from tenancy.models import Membership

IN_CONTEXT = [MessageStatus.COMPLETE, MessageStatus.INTERRUPTED, MessageStatus.CANCELLED]


def conversations_of(*, membership: Membership) -> Any:
    return Conversation.objects.for_org(membership.org).alive().filter(user_id=membership.user_id)


TITLE_QUERY_MAX = 200


def conversations_titled(*, membership: Membership, text: str) -> Any:
    """The caller's live conversations whose title contains `text` (any case); all of them for blank text."""
    text = text.strip()[:TITLE_QUERY_MAX]
    conversations = conversations_of(membership=membership)
    return conversations.filter(title__icontains=text) if text else conversations


def conversation_for_caller(*, membership: Membership, conversation_id: Any, for_update: bool = False) -> Conversation:
    """The caller's own live conversation in this organisation, or 404 (an id that is not a UUID too:
    the websocket route passes it on as written).

    `for_update` (inside a transaction) takes the conversation's row lock and reads its organisation
    in the same query: a turn prepared in that transaction needs both and reads neither again.
    """
    conversations = conversations_of(membership=membership)
    if for_update:
        conversations = conversations.select_related("org").select_for_update(of=("self",))
    try:
        conversation = conversations.filter(pk=conversation_id).first()
    except ValidationError:
        raise NotFound() from None
    if conversation is None:
        raise NotFound()
    return conversation


def _eligible(conversation: Conversation, before_seq: int | None) -> Any:
    # token_count, not content, tells empty answers apart: testing content would read every text.
    rows = Message.objects.filter(
        conversation_id=conversation.pk,
        seq__gt=conversation.summary_through_seq,
        status__in=IN_CONTEXT,
        token_count__gt=0,
        superseded=False,
    )
    return rows if before_seq is None else rows.filter(seq__lt=before_seq)


def history_reader(conversation: Conversation, before_seq: int | None = None) -> Iterator[HistoryEntry]:
    """Sequence numbers and token counts after the summary, newest first, one small page at a time."""
    base = _eligible(conversation, before_seq)

    def fetch(before: int | None, limit: int) -> list[HistoryEntry]:
        rows = base.filter(seq__lt=before) if before is not None else base
        return [HistoryEntry(*row) for row in rows.order_by("-seq").values_list("seq", "token_count")[:limit]]

    return paged(fetch)


def history_loader(conversation: Conversation, before_seq: int | None = None) -> Callable[[int], list[HistoryMessage]]:
    """Content of the kept messages only: everything eligible from the oldest kept one on."""

    def load_from(seq: int) -> list[HistoryMessage]:
        rows = _eligible(conversation, before_seq).filter(seq__gte=seq).order_by("seq")
        return [HistoryMessage(*row) for row in rows.values_list("seq", "role", "content", "token_count")]

    return load_from


def last_user_message(conversation: Conversation) -> Message | None:
    return Message.objects.filter(conversation=conversation, role="user", superseded=False).order_by("-seq").first()


def answer_in(conversation: Conversation, message_id: str) -> Message:
    """An assistant message of this conversation, or 404 (ids of other conversations do not exist here)."""
    try:
        message = Message.objects.filter(conversation=conversation, role="assistant", pk=message_id).first()
    except ValidationError:
        message = None
    if message is None:
        raise NotFound()
    return message


def unfinished_answers(conversation: Conversation) -> list[str]:
    """Ids of this conversation's answers still being written (pending or streaming)."""
    rows = Message.objects.filter(
        conversation=conversation, role="assistant", status__in=[MessageStatus.PENDING, MessageStatus.STREAMING]
    )
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


def shown_messages(conversation: Conversation, *, before_seq: int | None, limit: int) -> list[Message]:
    """The newest `limit` messages a reader sees (superseded ones left out), oldest first; older
    pages by `before_seq`, so a long conversation is read one page at a time."""
    rows = Message.objects.filter(conversation=conversation, superseded=False)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    return list(reversed(rows.order_by("-seq")[:limit]))
