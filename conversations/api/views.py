"""Conversation endpoints (the caller's own conversations only); sending lives in api/send.py."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatpresets.errors import InvalidInput, NotFound
from chatpresets.streaming import streamed
from conversations import services
from conversations.api import serializers as s
from conversations.export import json_chunks, markdown_chunks, record_export
from conversations.models import Conversation, Message
from conversations.payloads import message_payload
from presets.models import Preset
from tenancy.api.base import TenantViewSet
from tenancy.api.views import validated
from tenancy.permissions import Perm

MESSAGE_PAGE = 100


class ConversationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    model = Conversation
    serializer_class = s.ConversationSerializer
    action_permissions = dict.fromkeys(
        ["list", "retrieve", "create", "partial_update", "destroy", "preset", "context", "messages", "export"],
        Perm.CHAT,
    )

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.alive().filter(user=self.request.user).select_related("preset")

    def preset_of_org(self, preset_id: Any) -> Preset | None:
        if preset_id is None:
            return None
        preset = Preset.objects.for_org(self.org).filter(pk=preset_id).first()
        if preset is None:
            raise NotFound()
        return preset

    @extend_schema(request=s.ConversationCreateSerializer, responses={201: s.ConversationSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.ConversationCreateSerializer)
        data["preset"] = self.preset_of_org(data["preset"])
        conversation = services.conversation_create(membership=self.membership, **data)
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ConversationUpdateSerializer, responses=s.ConversationSerializer)
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        data = validated(self, s.ConversationUpdateSerializer)
        conversation = self.get_object()
        if data:  # a PATCH changes only what it names: `{}` is a valid no-op
            conversation = services.conversation_rename(
                conversation=conversation, membership=self.membership, title=data["title"]
            )
        return Response(s.ConversationSerializer(conversation).data)

    def destroy(self, request: Request, **kwargs: Any) -> Response:
        services.conversation_delete(conversation=self.get_object(), membership=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.ApplyPresetSerializer, responses=s.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def preset(self, request: Request, **kwargs: Any) -> Response:
        conversation = self.get_object()
        data = validated(self, s.ApplyPresetSerializer)
        conversation = services.conversation_apply_preset(
            conversation=conversation,
            membership=self.membership,
            preset=self.preset_of_org(data["preset"]),
            version=data["version"],
            variables=data["variables"],
        )
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True)
    def context(self, request: Request, **kwargs: Any) -> Response:
        return Response(services.context_preview(conversation=self.get_object(), membership=self.membership))

    @extend_schema(
        parameters=[OpenApiParameter("as", str, enum=["json", "markdown"], description="Export format (json)")],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/markdown"): OpenApiTypes.STR},
    )
    @action(detail=True)
    def export(self, request: Request, **kwargs: Any) -> StreamingHttpResponse:
        conversation, kind = self.get_object(), request.query_params.get("as", "json")
        if kind == "markdown":
            chunks, content_type = partial(markdown_chunks, conversation), "text/markdown; charset=utf-8"
        elif kind == "json":
            header = s.ConversationSerializer(conversation).data
            chunks, content_type = partial(json_chunks, conversation, header), "application/json"
        else:
            raise InvalidInput("Export as json or markdown.", details={"field": "as"})
        record_export(conversation=conversation, actor=request.user, kind=kind)
        response = StreamingHttpResponse(streamed(chunks), content_type=content_type)
        if kind == "markdown":
            response["Content-Disposition"] = f'attachment; filename="conversation-{conversation.pk}.md"'
        return response

    @extend_schema(
        parameters=[OpenApiParameter("before_seq", {"type": "integer", "minimum": 0}, description="Older than this")],
        responses=s.MessagePageSerializer,
    )
    def messages(self, request: Request, **kwargs: Any) -> Response:
        """Up to 100 messages, oldest first, with `has_more`; `before_seq` pages back (GET; POST sends one)."""
        conversation = self.get_object()
        rows = Message.objects.for_org(self.org).filter(conversation=conversation).order_by("-seq")
        before = request.query_params.get("before_seq")
        if before is not None:
            if not before.isdigit():
                raise InvalidInput("`before_seq` must be a sequence number.", details={"field": "before_seq"})
            rows = rows.filter(seq__lt=int(before))
        page = list(rows[:MESSAGE_PAGE])
        return Response(
            {"results": [message_payload(m) for m in reversed(page)], "has_more": len(page) == MESSAGE_PAGE}
        )
