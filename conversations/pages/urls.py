"""Chat pages under /o/<org_slug>/."""

from __future__ import annotations

from django.urls import path

from conversations.models import Conversation
from conversations.pages import chat, conversation, sidebar, start
from tenancy.pages.hidden import hiding_recorded

urlpatterns = hiding_recorded(
    [
        path("chat/", start.new_chat, name="chat-new"),
        path("chat/presets/", start.picker, name="chat-picker"),
        path("chat/start/", start.start, name="chat-start"),
        path("chat/list/", sidebar.sidebar_list, name="chat-sidebar"),
        path("chat/<uuid:pk>/", chat.conversation_page, name="chat"),
        path("chat/<uuid:pk>/messages/", conversation.older_messages, name="chat-messages"),
        path("chat/<uuid:pk>/context/", conversation.context_panel, name="chat-context"),
        path("chat/<uuid:pk>/rename/", sidebar.rename, name="chat-rename"),
        path("chat/<uuid:pk>/delete/", sidebar.delete, name="chat-delete"),
        path("chat/<uuid:pk>/upgrade/", start.upgrade, name="chat-upgrade"),
    ],
    pk=Conversation,
)
