"""Audit routes under orgs/<org_slug>/audit/."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from audit.api.views import AuditEventViewSet
from tenancy.api.urls import ORG

router = SimpleRouter(trailing_slash=True)
router.register(rf"{ORG}/audit", AuditEventViewSet, basename="audit-event")

urlpatterns = router.urls
