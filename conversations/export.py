"""A conversation as Markdown, for people to keep or share."""

from __future__ import annotations

from conversations.models import Conversation, Message

ROLE_TITLES = {"user": "You", "assistant": "Assistant"}


def as_markdown(conversation: Conversation, messages: list[Message]) -> str:
    lines = [
        f"# {conversation.title or 'Conversation'}",
        "",
        f"_Exported {conversation.updated_at:%Y-%m-%d %H:%M} UTC_",
        "",
    ]
    for message in messages:
        note = "" if message.status == "complete" else f" _({message.status})_"
        lines += [f"## {ROLE_TITLES.get(message.role, message.role)}{note}", "", message.content, ""]
    return "\n".join(lines)
