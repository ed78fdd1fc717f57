"""Preset routes: tenant routes under orgs/<org_slug>/, plus the gallery and share links."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from presets.api import labels, libraries, public, sharing, versions, views
from presets.webhooks import api as webhooks
from tenancy.api.base import UUID_REGEX
from tenancy.api.urls import ORG

PRESET = rf"{ORG}/presets/(?P<preset_id>{UUID_REGEX})"

router = SimpleRouter(trailing_slash=True)
router.register(rf"{ORG}/presets", views.PresetViewSet, basename="preset")
router.register(rf"{ORG}/presets", views.PresetReviewViewSet, basename="preset-review")
router.register(rf"{PRESET}/versions", versions.PresetVersionViewSet, basename="preset-version")
router.register(rf"{PRESET}/labels", labels.PresetLabelViewSet, basename="preset-label")
router.register(rf"{PRESET}/shares", sharing.PresetShareViewSet, basename="preset-share")
router.register(rf"{PRESET}/links", sharing.PresetLinkViewSet, basename="preset-link")
router.register(rf"{ORG}/libraries", libraries.LibraryViewSet, basename="library")
router.register(rf"{ORG}/webhooks", webhooks.WebhookEndpointViewSet, basename="webhook")
router.register(
    rf"{ORG}/webhooks/(?P<webhook_id>{UUID_REGEX})/deliveries",
    webhooks.WebhookDeliveryViewSet,
    basename="webhook-delivery",
)
router.register("gallery", public.GalleryViewSet, basename="gallery")

urlpatterns = [
    path("links/<str:token>/", public.LinkView.as_view(), name="link-open"),
    path("links/<str:token>/clone/", public.LinkCloneView.as_view(), name="link-clone"),
    *router.urls,
]
