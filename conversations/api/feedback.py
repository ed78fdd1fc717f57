"""GET/PUT/DELETE …/conversations/<id>/messages/<message_id>/feedback/: the caller's vote on an answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import feedback
from conversations.models import Conversation, Feedback, Message, Vote
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm


class FeedbackSerializer(serializers.Serializer):
    message = serializers.UUIDField(read_only=True)
    vote = serializers.ChoiceField(choices=Vote.choices, allow_null=True, read_only=True)
    reason = serializers.CharField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class FeedbackInputSerializer(serializers.Serializer):
    vote = serializers.ChoiceField(choices=Vote.choices)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def feedback_body(message: Message, row: Feedback | None) -> dict[str, Any]:
    """No vote yet is a vote of null, not a 404: the answer exists, the caller just has not voted."""
    return {
        "message": str(message.pk),
        "vote": row.vote if row else None,
        "reason": row.reason if row else "",
        "updated_at": row.updated_at.isoformat() if row else None,
    }


class FeedbackViewSet(TenantViewSet):
    """The caller's thumbs up or down on an answer in their own conversation: one vote per person per
    message, replaced when they vote again. Questions and other people's answers are 404."""

    model = Feedback
    addressed_by = {"pk": Conversation, "message_id": Message}
    serializer_class = FeedbackSerializer
    action_permissions = dict.fromkeys(["retrieve", "update", "destroy"], Perm.CHAT)

    def answer(self) -> Message:
        return feedback.answer_of_caller(
            membership=self.membership, conversation_id=self.kwargs["pk"], message_id=self.kwargs["message_id"]
        )

    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        message = self.answer()
        return Response(feedback_body(message, feedback.feedback_of(membership=self.membership, message=message)))

    @extend_schema(request=FeedbackInputSerializer, responses=FeedbackSerializer)
    def update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, FeedbackInputSerializer)
        message = self.answer()
        row = feedback.feedback_set(membership=self.membership, message=message, **data)
        return Response(feedback_body(message, row))

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        feedback.feedback_clear(membership=self.membership, message=self.answer())
        return Response(status=status.HTTP_204_NO_CONTENT)


feedback_view = FeedbackViewSet.as_view({"get": "retrieve", "put": "update", "delete": "destroy"})
