"""Thumbs up or down on an answer: one vote per person per message, changeable, with an optional reason.

Only the conversation's owner votes, and only on answers: the message is found through the
caller's own conversation (conversation_for_caller, answer_in), so any other id is a 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from conversations.models import Conversation, Feedback, Message
from conversations.selectors import answer_in, conversation_for_caller
from tenancy.models import Membership


def answer_of_caller(*, membership: Membership, conversation_id: Any, message_id: Any) -> Message:
    """An answer in the caller's own live conversation, or NotFound."""
    conversation = conversation_for_caller(membership=membership, conversation_id=conversation_id)
    return answer_in(conversation, str(message_id))


def feedback_of(*, membership: Membership, message: Message) -> Feedback | None:
    return Feedback.objects.for_org(membership.org).filter(message=message, user_id=membership.user_id).first()


def votes_in(*, membership: Membership, conversation: Conversation, message_ids: Iterable[Any]) -> dict[str, str]:
    """The caller's votes on these messages, by message id (for the page's pressed thumbs)."""
    rows = Feedback.objects.for_org(membership.org).filter(
        message__conversation=conversation, message_id__in=list(message_ids), user_id=membership.user_id
    )
    return {str(message_id): vote for message_id, vote in rows.values_list("message_id", "vote")}


@transaction.atomic
def feedback_set(*, membership: Membership, message: Message, vote: str, reason: str = "") -> Feedback:
    """Record the caller's vote; voting again replaces the vote and its reason."""
    feedback, _ = Feedback.objects.update_or_create(
        message=message,
        user_id=membership.user_id,
        defaults={"org_id": message.org_id, "vote": vote, "reason": reason},
    )
    return feedback


@transaction.atomic
def feedback_clear(*, membership: Membership, message: Message) -> None:
    Feedback.objects.for_org(membership.org).filter(message=message, user_id=membership.user_id).delete()
