"""What a replay replays: the newest user turns of a preset's conversations, the user turns of chosen
conversations, or a saved prompt set. Read only; every query starts from the organisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from chatpresets.errors import InvalidInput, NotFound
from conversations.models import Conversation, Message, Role
from conversations.replays.models import MAX_ITEMS, PromptSet
from presets.models import Preset
from tenancy.models import Organization


class TooManyTurns(InvalidInput):
    code = "too_many_turns"
    message = f"A replay runs at most {MAX_ITEMS} turns."


@dataclass(frozen=True)
class Source:
    """One item to replay: the text, and the user message it copies (None for a prompt-set prompt)."""

    text: str
    message: Message | None = None


def _user_turns(org: Organization) -> Any:
    return (
        Message.objects.for_org(org)
        .filter(role=Role.USER, superseded=False, conversation__deleted_at__isnull=True)
        .exclude(content="")
    )


def recent_turns(*, preset: Preset, limit: int) -> list[Source]:
    """The `limit` newest user turns of the preset's conversations in its organisation, oldest first."""
    if not 1 <= limit <= MAX_ITEMS:
        raise TooManyTurns(details={"field": "turns", "max": MAX_ITEMS})
    rows = _user_turns(preset.org).filter(conversation__preset=preset).order_by("-created_at", "-seq")[:limit]
    return [Source(row.content, row) for row in reversed(list(rows))]


def conversation_turns(*, org: Organization, conversation_ids: Sequence[Any]) -> list[Source]:
    """Every user turn of the named conversations, in order; an id the organisation does not hold is a 404."""
    wanted = set(conversation_ids)
    try:
        held = set(Conversation.objects.for_org(org).alive().filter(pk__in=wanted).values_list("pk", flat=True))
    except ValidationError:
        raise NotFound() from None
    if held != wanted:
        raise NotFound("No such conversation.", details={"field": "conversations"})
    rows = _user_turns(org).filter(conversation_id__in=held).order_by("conversation__created_at", "seq")
    found = list(rows[: MAX_ITEMS + 1])
    if len(found) > MAX_ITEMS:
        raise TooManyTurns(details={"field": "conversations", "max": MAX_ITEMS})
    return [Source(row.content, row) for row in found]


def prompt_set_of(*, preset: Preset, prompt_set_id: Any) -> PromptSet:
    try:
        found = PromptSet.objects.for_org(preset.org).filter(preset=preset, pk=prompt_set_id).first()
    except ValidationError:
        found = None
    if found is None:
        raise NotFound("No such prompt set.", details={"field": "prompt_set"})
    return found


def prompt_set_items(prompt_set: PromptSet) -> list[Source]:
    return [Source(text) for text in prompt_set.prompts[:MAX_ITEMS]]
