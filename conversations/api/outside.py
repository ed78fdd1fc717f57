"""Starting a conversation with another organisation's preset: from the gallery or a share link.

The routes sit beside the gallery's and the links' (outside any organisation URL); the body names
the caller's organisation the conversation belongs to, whose `chat` permission it needs.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import outside_presets
from conversations.api import serializers as s
from presets.api.public import refuse_api_keys
from tenancy.api.base import membership_acting_in
from tenancy.api.views import validated
from tenancy.permissions import Perm

START = extend_schema(request=s.OutsideConversationSerializer, responses={201: s.ConversationSerializer})


class GalleryConversationView(GenericAPIView):
    serializer_class = s.OutsideConversationSerializer  # OPTIONS describes the body from it

    @START
    def post(self, request: Request, pk: str) -> Response:
        data = validated(self, s.OutsideConversationSerializer)
        membership = membership_acting_in(request, data.pop("org", None), Perm.CHAT)
        conversation = outside_presets.conversation_from_gallery(membership=membership, preset_id=pk, **data)
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class LinkConversationView(GenericAPIView):
    serializer_class = s.OutsideConversationSerializer

    @START
    def post(self, request: Request, token: str) -> Response:
        refuse_api_keys(request)
        data = validated(self, s.OutsideConversationSerializer)
        membership = membership_acting_in(request, data.pop("org", None), Perm.CHAT)
        conversation = outside_presets.conversation_from_link(membership=membership, token=token, **data)
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)
