"""The Audit page under /o/<org_slug>/ (here, with the trail it reads; audit sits above tenancy)."""

from __future__ import annotations

from django.urls import path

from audit.pages import retention, trail

urlpatterns = [
    path("audit/", trail.audit_page, name="audit-page"),
    path("audit/retention/", retention.retention_page, name="audit-retention-page"),
]
