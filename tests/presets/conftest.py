"""Helpers for preset API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import reverse

from chatpresets.llm.catalogue import catalogue
from tenancy.models import Role, User
from tests.factories import MembershipFactory, UserFactory
from tests.presets.webhook_receiver import Receiver, running_receiver


def url(name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"org_slug": kwargs.pop("org", "acme"), **kwargs})


@pytest.fixture
def approver(acme) -> User:
    user = UserFactory(username="quinn")
    MembershipFactory(org=acme, user=user, role=Role.APPROVER)
    return user


@pytest.fixture
def create(api) -> Callable[..., dict[str, Any]]:
    """POST a preset as `user` and return the response body (asserting 201)."""

    def make(user: User, slug: str = "writer", **fields: Any) -> dict[str, Any]:
        body = {"name": slug.title(), "slug": slug, "system_prompt": "You write well.", "model": "smollm2", **fields}
        response = api(user).post(url("preset-list"), body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def models(settings) -> Iterator[None]:
    """A catalogue of three models (smollm2, gpt-4o, mistral-large), none of them ever called."""
    entry = {"base_url": "http://127.0.0.1:9/v1", "context_window": 8192, "max_output": 512}
    settings.MODEL_CATALOGUE = [{"name": name, **entry} for name in ("smollm2", "gpt-4o", "mistral-large")]
    catalogue.cache_clear()
    yield
    catalogue.cache_clear()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A real loopback webhook receiver, with 127.0.0.1/32 allowed so deliveries may reach it."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with running_receiver() as running:
        yield running
