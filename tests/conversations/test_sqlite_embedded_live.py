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

from tests.server import ADMISSION_GATE_OPEN, ROOT, daphne, fake_model_env

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


def seed(env: dict[str, str], script: str = SEED) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", script],
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
    with daphne(env | ADMISSION_GATE_OPEN) as base:
        outcomes = asyncio.run(chat_turns(base, keys))
    assert outcomes == [(201, 201)] * TURNS


REVIEW_SEED = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tenancy import services
from tenancy.models import Membership, Organization, Role, User
from tenancy.permissions import Scope
org = Organization.objects.create(name="Acme", slug="acme")
keys = []
for name, role in [("author", Role.OWNER), ("reviewer", Role.ADMIN)]:
    user = User.objects.create(username=name)
    Membership.objects.create(org=org, user=user, role=role)
    keys.append(services.api_key_create(org=org, actor=user, name="k", scopes=list(Scope), expires_at=None)[1])
print(json.dumps(keys))
"""


def test_review_labels_analytics_experiments_and_webhooks_answer_on_the_embedded_default(tmp_path, fake_server):
    """Routes whose PostgreSQL queries (JSON containment, grouping sets) once gave the embedded run 500s."""
    env = embedded_env(tmp_path / "db.sqlite3", fake_server)
    author, reviewer = seed(env, REVIEW_SEED)
    with daphne(env) as base:
        as_author = httpx.Client(base_url=f"{base}/api/v1/orgs/acme", headers={"Authorization": f"Bearer {author}"})
        as_reviewer = httpx.Client(base_url=f"{base}/api/v1/orgs/acme", headers={"Authorization": f"Bearer {reviewer}"})
        hook = {"url": "https://93.184.215.14/hook", "events": ["preset.version_submitted"]}
        assert as_author.post("/webhooks/", json=hook).status_code == 201
        body = {"name": "P", "slug": "p", "system_prompt": "One.", "model": "fake", "scope": "org"}
        preset = as_author.post("/presets/", json=body).json()["id"]
        statuses = [as_author.post(f"/presets/{preset}/submit/").status_code]  # emits to the endpoint
        statuses.append(as_reviewer.post(f"/presets/{preset}/approve/", json={"version": 1}).status_code)
        statuses.append(as_author.patch(f"/presets/{preset}/", json={"system_prompt": "Two."}).status_code)
        statuses.append(as_reviewer.post(f"/presets/{preset}/approve/", json={"version": 2}).status_code)
        statuses.append(as_reviewer.put(f"/presets/{preset}/labels/staging/", json={"version": 2}).status_code)
        statuses.append(as_author.get(f"/presets/{preset}/analytics/").status_code)
        variants = [{"name": "a", "version": 1, "weight": 1}, {"name": "b", "version": 2, "weight": 1}]
        experiment = {"name": "E", "preset": preset, "primary_metric": "thumbs_up_rate", "variants": variants}
        created = as_author.post("/experiments/", json=experiment)
        statuses.append(created.status_code)
        statuses.append(as_reviewer.post(f"/experiments/{created.json()['id']}/start/").status_code)
        statuses.append(as_author.get(f"/experiments/{created.json()['id']}/results/").status_code)
        endpoint = as_author.get("/webhooks/").json()["results"][0]["id"]
        deliveries = as_author.get(f"/webhooks/{endpoint}/deliveries/").json()["results"]
    assert statuses == [200, 200, 200, 200, 200, 200, 201, 200, 200]
    assert [delivery["event"] for delivery in deliveries] == ["preset.version_submitted"] * 2
