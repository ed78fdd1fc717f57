"""Conversation tests share the fake model fixtures of tests/conftest.py; `live` runs daphne."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from conversations.consumers import ConversationConsumer
from conversations.models import Conversation
from tenancy import services as tenancy_services
from tests.redis_process import RedisProcess
from tests.server import ADMISSION_GATE_OPEN, daphne, fake_model_env


@pytest.fixture
def live(fake_server, fake_llm, acme, alice, tmp_path):
    """A daphne process on the test database, whose model catalogue points at the fake model.

    Its log (stderr) goes to `live["log"]`, a file, so a long test never blocks on a full pipe.
    """
    env = server_env(fake_server, **ADMISSION_GATE_OPEN)
    conversation = Conversation.objects.create(org=acme, user=alice)
    _, key = tenancy_services.api_key_create(org=acme, actor=alice, name="sse", scopes=["chat"], expires_at=None)
    log = tmp_path / "daphne.log"
    with daphne(env, log=log) as base:
        yield {"base": base, "key": key, "conversation": conversation, "log": log}


@pytest.fixture
def chat(acme, alice) -> dict:
    """A conversation of alice's, a chat-scoped API key of hers and the conversation's websocket path."""
    conversation = Conversation.objects.create(org=acme, user=alice, title="ws")
    _, secret = tenancy_services.api_key_create(org=acme, actor=alice, name="ws", scopes=["chat"], expires_at=None)
    return {"conversation": conversation, "key": secret, "path": f"/ws/orgs/acme/conversations/{conversation.pk}/"}


def server_env(fake_server, *, model: dict | None = None, **overrides: str) -> dict[str, str]:
    """The environment of a daphne process on the test database with the fake model (its catalogue
    entry changed by `model`), plus overrides."""
    db = connection.settings_dict
    database = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {"DATABASE_URL": database, **fake_model_env(fake_server.base_url, **(model or {})), **overrides}


@pytest.fixture
def guardrail_redis(settings) -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    settings.REDIS_URL = server.url  # the limiter and quota store read it per call; the cache keeps its own
    yield server
    server.stop()


def chat_of(org: Any, user: Any) -> dict[str, str]:
    conversation = Conversation.objects.create(org=org, user=user)
    _, secret = tenancy_services.api_key_create(org=org, actor=user, name="ws", scopes=["chat"], expires_at=None)
    return {"key": secret, "path": f"/ws/orgs/{org.slug}/conversations/{conversation.pk}/"}


@pytest.fixture
def chats(acme, globex, alice, bob, carol) -> dict[str, dict[str, str]]:
    """A conversation and a chat key each for alice and bob (acme) and carol (globex)."""
    return {
        name: chat_of(org, user)
        for name, org, user in [("alice", acme, alice), ("bob", acme, bob), ("carol", globex, carol)]
    }


@pytest.fixture
def consumers_made(monkeypatch) -> list[str]:
    """The paths of the conversation consumers made: a refusal at a cap must not make one (it would
    subscribe to the channel layer before its refusal)."""
    made: list[str] = []
    run = ConversationConsumer.__call__

    async def counted(self: ConversationConsumer, scope: Any, receive: Any, send: Any) -> None:
        made.append(scope["path"])
        await run(self, scope, receive, send)

    monkeypatch.setattr(ConversationConsumer, "__call__", counted)
    return made
