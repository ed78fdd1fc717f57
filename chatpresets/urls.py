from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chatpresets import csp_report, health
from chatpresets.observability import views as observability
from chatpresets.schema_views import SchemaDocsView, SchemaView
from conversations.api import openai_compat
from tenancy.pages import frame as pages

handler400 = "chatpresets.errors.bad_request"
handler403 = "chatpresets.errors.permission_denied"
handler404 = "chatpresets.errors.page_not_found"
handler500 = "chatpresets.errors.server_error"

api_v1 = [
    path("", include("tenancy.api.urls")),
    path("", include("presets.api.urls")),
    path("", include("conversations.api.urls")),
    path("", include("audit.api.urls")),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", SchemaDocsView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("v1/chat/completions", openai_compat.chat_completions_endpoint, name="openai-chat-completions"),
    path("v1/models", openai_compat.models_endpoint, name="openai-models"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.scrape, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("csp-report/", csp_report.receive, name="csp-report"),
    path("o/<slug:org_slug>/", pages.org_home, name="org-home"),
    path("o/<slug:org_slug>/", include("conversations.pages.urls")),
    path("o/<slug:org_slug>/", include("conversations.pages.usage_urls")),
    path("o/<slug:org_slug>/", include("tenancy.pages.urls")),
    path("o/<slug:org_slug>/", include("presets.pages.urls")),
    path("o/<slug:org_slug>/", include("audit.pages.urls")),
    path("", include("presets.pages.public_urls")),
    path("", include("conversations.pages.outside_urls")),
    path("", pages.home, name="home"),
]
