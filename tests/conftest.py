"""Fixture people: alice (Acme owner), bob (Acme member), carol (Globex member)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.core.cache import cache
from rest_framework.test import APIClient

from chatpresets import admission, queue_limits
from chatpresets.llm import catalogue, gateway
from conversations import handshakes, socket_slots
from conversations.testing.fake_llm import FakeConfig, FakeLLMServer
from presets import row_copies
from tenancy import caller_cache, key_use, services
from tenancy.metering import stream_slots
from tenancy.models import ApiKey, Organization, Role, User
from tests.factories import MembershipFactory, OrganizationFactory, TeamFactory, TeamMembershipFactory, UserFactory
from tests.server import RUN_SUMMARY, free_port


def pytest_configure(config: pytest.Config) -> None:
    # The suite's promise is real services: refuse to run on the embedded defaults.
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise pytest.UsageError("Tests need DATABASE_URL=postgres://…; run them with `make test`.")
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("Tests need REDIS_URL=redis://…; run them with `make test`.")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    # The schema fuzzer's case count belongs in the CI log: a run that sent nothing must show it.
    for line in config.stash.get(RUN_SUMMARY, []):
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()
    caller_cache.forget_local()
    row_copies.COPIES.forget_local()
    key_use.forget_local()


@pytest.fixture(autouse=True)
def _idle_stream_slots() -> Iterator[None]:
    # A test that admits a call and keeps it (to look at its holds) must not fill the next test's slots.
    yield
    stream_slots.forget_all()
    admission.forget_all()
    socket_slots.forget_all()
    handshakes.forget_all()


@pytest.fixture
def broker_unreachable(settings: Any) -> Iterator[None]:
    """The project's Celery app on a broker that refuses every connection (nothing listens on its port)."""
    from chatpresets.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queue_limits.forget_cached_depths()
    yield
    app.conf.broker_url = before
    queue_limits.forget_cached_depths()


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


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(FakeConfig()).start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_server: FakeLLMServer, settings: Any) -> Iterator[Any]:
    """A clean fake model (no faults, no recorded requests) and a catalogue of fake models."""
    base = fake_server.base_url
    settings.MODEL_CATALOGUE = [
        {
            "name": "fake",
            "base_url": base,
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "price_in_per_million": "1.00",
            "price_out_per_million": "2.00",
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
            "fallbacks": ["fake-backup"],
        },
        {
            "name": "fake-backup",
            "base_url": base.replace("127.0.0.1", "localhost"),
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
        },
        {
            "name": "fake-small",
            "base_url": base,
            "encoding": "cl100k_base",
            "context_window": 300,
            "max_output": 50,
            "ttft_timeout": 0.5,
            "total_timeout": 10.0,
        },
    ]
    settings.GATEWAY_BACKOFF_SECONDS = 0.01
    settings.GATEWAY_RETRIES = 2
    settings.DEFAULT_MODEL = "fake"
    catalogue.catalogue.cache_clear()
    gateway._breakers.clear()
    gateway._endpoint_names.clear()  # the fake server's URL is named by whichever catalogue saw it first
    llm = fake_server.llm
    llm.faults.clear()
    llm.requests.clear()
    llm.config = FakeConfig()
    yield llm
    catalogue.catalogue.cache_clear()
    gateway._breakers.clear()
    gateway._endpoint_names.clear()


def _close_old_connections_outside_atomic(**kwargs: Any) -> None:
    """Channels closes stale connections around each database call; inside a test's wrapping
    transaction that would close the test's own connection (Django's test client skips the same
    signal for the same reason), so connections in an atomic block are left alone."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@pytest.fixture(autouse=True)
def _channels_keep_test_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    import channels.db

    monkeypatch.setattr(channels.db, "close_old_connections", _close_old_connections_outside_atomic)


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    """The name of every thread hop (`sync_to_async`, `database_sync_to_async`) taken from here on."""
    taken: list[str] = []
    original = SyncToAsync.__call__

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        taken.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return taken
