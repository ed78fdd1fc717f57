"""Fixture people: alice (Acme owner), bob (Acme member), carol (Globex member)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tenancy import services
from tenancy.models import ApiKey, Organization, Role, User
from tests.factories import MembershipFactory, OrganizationFactory, TeamFactory, TeamMembershipFactory, UserFactory


def pytest_configure(config: pytest.Config) -> None:
    # The suite's promise is real services: refuse to run on the embedded defaults.
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("Tests need DATABASE_URL=postgres://…; run them with `make test`.")
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("Tests need REDIS_URL=redis://…; run them with `make test`.")


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


@pytest.fixture
def acme(db: None) -> Organization:
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def globex(db: None) -> Organization:
    return OrganizationFactory(name="Globex", slug="globex")


@pytest.fixture
def alice(acme: Organization) -> User:
    user = UserFactory(username="alice")
    MembershipFactory(org=acme, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(acme: Organization) -> User:
    user = UserFactory(username="bob")
    MembershipFactory(org=acme, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def carol(globex: Organization) -> User:
    user = UserFactory(username="carol")
    MembershipFactory(org=globex, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def member_with_role(acme: Organization) -> Callable[[str], User]:
    def make(role: str) -> User:
        user = UserFactory(username=f"acme-{role}")
        MembershipFactory(org=acme, user=user, role=role)
        return user

    return make


@pytest.fixture
def team(acme: Organization, alice: User, bob: User) -> Any:
    team = TeamFactory(org=acme, name="Engineering", slug="engineering")
    TeamMembershipFactory(team=team, user=alice, is_lead=True)
    TeamMembershipFactory(team=team, user=bob)
    return team


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """A client signed in as the user (session), or presenting an API key secret."""

    def make(user: User | None = None, *, key: str | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        if key is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client

    return make


@pytest.fixture
def make_key() -> Callable[..., tuple[ApiKey, str]]:
    def make(user: User, org: Organization, scopes: list[str], **kwargs: Any) -> tuple[ApiKey, str]:
        return services.api_key_create(
            org=org,
            actor=user,
            name=kwargs.pop("name", "test key"),
            scopes=scopes,
            expires_at=kwargs.pop("expires_at", None),
        )

    return make
