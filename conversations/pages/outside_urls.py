"""Chat pages outside any organisation: a conversation started from the gallery or a share link."""

from __future__ import annotations

from django.urls import path

from conversations.pages import outside

urlpatterns = [
    path("gallery/<uuid:pk>/chat/", outside.gallery_chat, name="gallery-chat-page"),
    path("l/<str:token>/chat/", outside.link_chat, name="link-chat-page"),
]
