"""Websocket routes of every app, gathered for the ASGI router."""

from __future__ import annotations

from conversations.routing import websocket_urlpatterns as conversation_routes

websocket_urlpatterns = [*conversation_routes]
