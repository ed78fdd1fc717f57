"""The usage page under /o/<org_slug>/ (here, not with the other account pages, because the usage
ledger belongs to conversations, above tenancy)."""

from __future__ import annotations

from django.urls import path

from conversations.pages import usage

urlpatterns = [
    path("usage/", usage.usage_page, name="account-usage"),
]
