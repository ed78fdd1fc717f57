"""Chat pages under /o/<org_slug>/."""

from __future__ import annotations

from django.urls import path

from conversations.pages import chat, conversation

urlpatterns = [
    path("chat/", chat.new_chat, name="chat-new"),
    path("chat/<uuid:pk>/", chat.conversation_page, name="chat"),
    path("chat/<uuid:pk>/messages/", conversation.older_messages, name="chat-messages"),
    path("chat/<uuid:pk>/context/", conversation.context_panel, name="chat-context"),
]
