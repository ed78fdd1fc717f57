"""Tenancy routes. Every tenant route starts with orgs/<org_slug>/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from tenancy.api import views
from tenancy.api.base import UUID_REGEX

ORG = r"orgs/(?P<org_slug>[-a-zA-Z0-9_]+)"
TEAM = rf"{ORG}/teams/(?P<team_id>{UUID_REGEX})"

router = SimpleRouter(trailing_slash=True)
router.register("orgs", views.OrganizationListViewSet, basename="org-list")
router.register(rf"{ORG}/members", views.MemberViewSet, basename="member")
router.register(rf"{ORG}/teams", views.TeamViewSet, basename="team")
router.register(rf"{TEAM}/members", views.TeamMemberViewSet, basename="team-member")
router.register(rf"{ORG}/api-keys", views.ApiKeyViewSet, basename="api-key")

org_detail = views.OrganizationViewSet.as_view({"get": "retrieve", "patch": "partial_update"})

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("orgs/<slug:org_slug>/", org_detail, name="org-detail"),
    *router.urls,
]
