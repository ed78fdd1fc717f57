"""The usage page and a preset's analytics page under /o/<org_slug>/ (here, not with the account or
preset pages, because the usage ledger and the messages analytics read belong to conversations,
above tenancy and presets)."""

from __future__ import annotations

from django.urls import path

from conversations.pages import analytics, usage
from presets.models import Preset
from tenancy.pages.hidden import hiding_recorded

urlpatterns = [
    path("usage/", usage.usage_page, name="account-usage"),
    *hiding_recorded(
        [path("presets/<uuid:pk>/analytics/", analytics.preset_analytics_page, name="preset-analytics-page")],
        pk=Preset,
    ),
]
