"""The Audit page under /o/<org_slug>/ (here, with the trail it reads; audit sits above tenancy)."""

from __future__ import annotations

from django.urls import path

from audit.pages import trail

urlpatterns = [
    path("audit/", trail.audit_page, name="audit-page"),
]
