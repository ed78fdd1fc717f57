"""Conversation and usage routes under orgs/<org_slug>/, me/quota/, and conversations started from the
gallery or a link; turns are async views (api/send.py)."""

from __future__ import annotations

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from conversations.api import experiments, outside, replays, send, usage
from conversations.api.analytics import PresetAnalyticsViewSet
from conversations.api.feedback import feedback_view
from conversations.api.views import ConversationViewSet
from tenancy.api.base import UUID_REGEX
from tenancy.api.urls import ORG

CONVERSATION = rf"^{ORG}/conversations/(?P<pk>{UUID_REGEX})"
PRESET = rf"{ORG}/presets/(?P<preset_id>{UUID_REGEX})"

router = SimpleRouter(trailing_slash=True)
router.register(rf"{ORG}/conversations", ConversationViewSet, basename="conversation")
router.register(rf"{ORG}/usage", usage.UsageViewSet, basename="usage")
router.register(
    rf"{ORG}/presets/(?P<preset_id>{UUID_REGEX})/analytics", PresetAnalyticsViewSet, basename="preset-analytics"
)
router.register(rf"{ORG}/experiments", experiments.ExperimentViewSet, basename="experiment")
router.register(rf"{PRESET}/replays", replays.ReplayViewSet, basename="preset-replay")
router.register(rf"{PRESET}/prompt-sets", replays.PromptSetViewSet, basename="preset-prompt-set")

urlpatterns = [
    path("me/quota/", usage.MeQuotaView.as_view(), name="me-quota"),
    re_path(
        rf"^gallery/(?P<pk>{UUID_REGEX})/conversations/$",
        outside.GalleryConversationView.as_view(),
        name="gallery-conversations",
    ),
    path("links/<str:token>/conversations/", outside.LinkConversationView.as_view(), name="link-conversations"),
    re_path(rf"{CONVERSATION}/messages/$", send.messages_endpoint, name="conversation-messages"),
    re_path(
        rf"{CONVERSATION}/messages/(?P<message_id>{UUID_REGEX})/feedback/$", feedback_view, name="message-feedback"
    ),
    re_path(rf"{CONVERSATION}/regenerate/$", send.regenerate_endpoint, name="conversation-regenerate"),
    re_path(rf"{CONVERSATION}/edit/$", send.edit_endpoint, name="conversation-edit"),
    *router.urls,
]
