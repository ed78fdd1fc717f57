"""Helpers for the preset pages' tests: a browser-like client and page URLs."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"org_slug": "acme", **kwargs})
