from __future__ import annotations

from django.urls import re_path

from conversations.consumers import ConversationConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/orgs/(?P<org_slug>[-a-zA-Z0-9_]+)/conversations/(?P<conversation_id>[0-9a-fA-F-]{32,36})/$",
        ConversationConsumer.as_asgi(),
        name="ws-conversation",
    ),
]
