"""Conversation routes under orgs/<org_slug>/."""

from __future__ import annotations

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from conversations.api.send import messages_endpoint
from conversations.api.views import ConversationViewSet
from tenancy.api.urls import ORG

router = SimpleRouter(trailing_slash=True)
router.register(rf"{ORG}/conversations", ConversationViewSet, basename="conversation")

urlpatterns = [
    re_path(
        rf"^{ORG}/conversations/(?P<pk>[0-9a-fA-F-]{{32,36}})/messages/$",
        messages_endpoint,
        name="conversation-messages",
    ),
    *router.urls,
]
