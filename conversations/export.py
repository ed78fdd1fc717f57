"""A conversation exported as JSON or Markdown, streamed in batches of messages.

A transcript has no upper size (each message is bounded, their number only by quotas), so it is
never built whole: the response reads EXPORT_BATCH messages at a time, off the event loop, and
sends each batch before reading the next. Memory per export is one batch, however long the
conversation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from audit.services import record
from conversations.models import Conversation, Message
from conversations.payloads import message_payload
from tenancy.models import User

ROLE_TITLES = {"user": "You", "assistant": "Assistant"}
EXPORT_BATCH = 200


def record_export(*, conversation: Conversation, actor: User, kind: str) -> None:
    """An export is a sensitive read (the whole transcript leaves the service): one
    `conversation.exported` event per export, written before the first byte is sent."""
    record(org=conversation.org, actor=actor, action="conversation.exported", target=conversation, payload={"as": kind})


def transcript_batches(conversation: Conversation) -> Iterator[list[Message]]:
    """The conversation as it stands (no message replaced by a regeneration or an edit), in seq order."""
    after, messages = 0, Message.objects.filter(conversation=conversation, superseded=False).order_by("seq")
    while rows := list(messages.filter(seq__gt=after)[:EXPORT_BATCH]):
        yield rows
        after = rows[-1].seq


def markdown_chunks(conversation: Conversation) -> Iterator[str]:
    yield f"# {conversation.title or 'Conversation'}\n\n_Exported {conversation.updated_at:%Y-%m-%d %H:%M} UTC_\n\n"
    for rows in transcript_batches(conversation):
        yield "".join(_markdown(message) for message in rows)


def _markdown(message: Message) -> str:
    note = "" if message.status == "complete" else f" _({message.status})_"
    return f"## {ROLE_TITLES.get(message.role, message.role)}{note}\n\n{message.content}\n\n"


def json_chunks(conversation: Conversation, header: dict[str, Any]) -> Iterator[str]:
    """`{"conversation": header, "messages": [...]}`, written a batch of messages at a time."""
    yield '{"conversation": ' + _json(header) + ', "messages": ['
    separator = ""
    for rows in transcript_batches(conversation):
        yield separator + ", ".join(_json(message_payload(message)) for message in rows)
        separator = ", "
    yield "]}"


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
