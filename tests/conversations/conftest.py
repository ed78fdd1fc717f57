"""Conversation tests share the fake model fixtures of tests/conftest.py; `live` runs daphne."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from conversations.models import Conversation
from tenancy import services as tenancy_services
from tests.server import daphne


@pytest.fixture
def live(fake_server, fake_llm, acme, alice, tmp_path):
    """A daphne process on the test database, whose model catalogue points at the fake model.

    Its log (stderr) goes to `live["log"]`, a file, so a long test never blocks on a full pipe.
    """
    settings_dict = connection.settings_dict
    database = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    catalogue = [
        {
            "name": "fake",
            "base_url": fake_server.base_url,
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "ttft_timeout": 2.0,
            "total_timeout": 20.0,
        }
    ]
    env = {"DATABASE_URL": database, "MODEL_CATALOGUE": json.dumps(catalogue), "DEFAULT_MODEL": "fake"}
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


def server_env(fake_server, **overrides: str) -> dict[str, str]:
    """The environment of a daphne process on the test database with the fake model, plus overrides."""
    settings_dict = connection.settings_dict
    database = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    catalogue = [
        {
            "name": "fake",
            "base_url": fake_server.base_url,
            "encoding": "o200k_base",
            "context_window": 4096,
            "max_output": 256,
            "ttft_timeout": 5.0,
            "total_timeout": 30.0,
        }
    ]
    return {"DATABASE_URL": database, "MODEL_CATALOGUE": json.dumps(catalogue), "DEFAULT_MODEL": "fake", **overrides}
