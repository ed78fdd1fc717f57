"""The embedded default (SQLite, no Redis) serves concurrent chat turns in one daphne process.

With SQLite's defaults, two people chatting at once got 500 "database is locked": a transaction
that began by reading failed when it tried to write while another held the lock. The suite runs
on PostgreSQL, so this test migrates a temporary SQLite file in a subprocess and starts daphne on
it with the embedded cache, channel layer and limits (REDIS_URL empty), as `make run` does.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.server import ROOT, daphne, fake_model_env

TURNS = 20

SEED = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tenancy import services
from tenancy.models import Membership, Organization, Role, User
org = Organization.objects.create(name="Acme", slug="acme")
keys = []
for n in range(4):
    user = User.objects.create(username=f"user{n}")
    Membership.objects.create(org=org, user=user, role=Role.MEMBER)
    keys.append(services.api_key_create(org=org, actor=user, name="k", scopes=["chat"], expires_at=None)[1])
print(json.dumps(keys))
"""


def embedded_env(database: Path, fake_server: Any) -> dict[str, str]:
    return {
        "DJANGO_ENV": "development",  # as `make run`: summaries and titles on a background thread
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
        **fake_model_env(fake_server.base_url, max_output=64),
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
    }


def seed(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chatpresets.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


async def chat_turns(base: str, keys: list[str]) -> list[tuple[int, int]]:
    """Each caller starts a conversation and sends one message, all at once: (create, send) statuses."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(n: int) -> tuple[int, int]:
            headers = {"Authorization": f"Bearer {keys[n % len(keys)]}"}
            created = await client.post("/api/v1/orgs/acme/conversations/", json={"title": f"t{n}"}, headers=headers)
            if created.status_code != 201:
                return created.status_code, 0
            path = f"/api/v1/orgs/acme/conversations/{created.json()['id']}/messages/"
            sent = await client.post(path, json={"content": f"question {n}"}, headers=headers)
            return created.status_code, sent.status_code

        return await asyncio.gather(*(one(n) for n in range(TURNS)))


def test_twenty_concurrent_chat_turns_on_the_embedded_sqlite_default_all_succeed(tmp_path, fake_server, fake_llm):
    fake_llm.config.token_delay = 0.01  # answers overlap, so turns write while others stream
    env = embedded_env(tmp_path / "db.sqlite3", fake_server)
    keys = seed(env)
    with daphne(env) as base:
        outcomes = asyncio.run(chat_turns(base, keys))
    assert outcomes == [(201, 201)] * TURNS
