"""Audit routes under orgs/<org_slug>/audit/."""

from __future__ import annotations

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from audit.api.retention import retention_view
from audit.api.views import AuditEventViewSet
from tenancy.api.urls import ORG

router = SimpleRouter(trailing_slash=True)
router.register(rf"{ORG}/audit", AuditEventViewSet, basename="audit-event")

# Before the router's routes: `audit/retention/` is not an event.
urlpatterns = [re_path(rf"^{ORG}/audit/retention/$", retention_view, name="audit-retention"), *router.urls]
