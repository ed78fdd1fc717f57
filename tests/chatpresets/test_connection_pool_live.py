"""One real daphne process under a burst of concurrent requests holds at most its pool's connections.

Under ASGI every request's sync code runs in a thread of its own; without a pool each thread kept
a connection until PostgreSQL refused new clients and the service answered 500. These tests drive
hundreds of concurrent requests (the DRF `GET /api/v1/me/` and chat turns through the async view)
and watch `pg_stat_activity` for the process's connections, told apart by `application_name`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from django.db import connection

from conversations.models import Conversation
from tenancy import services as tenancy_services
from tests.server import ADMISSION_GATE_OPEN, daphne, fake_model_env

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = 60
READS = 240
CONCURRENCY = 100


def database_url(application_name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}?application_name={application_name}"


def held_connections(application_name: str) -> int:
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres") as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return row.fetchone()[0]


@contextmanager
def pooled_server(fake_server: Any, **pool: str) -> Iterator[tuple[str, str]]:
    """A daphne process on the test database with the given pool settings; yields (base URL, app name)."""
    application_name = f"pool-test-{uuid.uuid4().hex[:12]}"
    env = {
        "DATABASE_URL": database_url(application_name),
        **fake_model_env(fake_server.base_url, max_output=64),
        "GUARDRAILS_ENABLED": "false",  # per-user rate limits are not under test here
        "API_THROTTLE_USER_RATE": "1000000/min",
        "DEBUG": "false",
        "LOG_LEVEL": "ERROR",
        **ADMISSION_GATE_OPEN,
        **pool,
    }
    with daphne(env) as base:
        yield base, application_name


@pytest.fixture
def callers(acme, alice, bob) -> dict[str, Any]:
    _, alice_key = tenancy_services.api_key_create(org=acme, actor=alice, name="a", scopes=["chat"], expires_at=None)
    _, bob_key = tenancy_services.api_key_create(org=acme, actor=bob, name="b", scopes=["chat"], expires_at=None)
    conversations = [Conversation.objects.create(org=acme, user=alice, title=f"c{n}") for n in range(TURNS)]
    return {"keys": [alice_key, bob_key], "alice": alice_key, "conversations": [str(c.pk) for c in conversations]}


async def burst(base: str, callers: dict[str, Any], *, sample: str) -> tuple[list[httpx.Response], int]:
    """Fire every read and turn (CONCURRENCY in flight); returns the responses and the peak connections seen."""
    peak, done = 0, asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await asyncio.to_thread(held_connections, sample))
            await asyncio.sleep(0.02)

    # 100 sockets at a time: far more requests than pool connections, without overflowing daphne's
    # listen backlog (an overflow resets connections under load, a harness failure, not the server's).
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        def read(n: int) -> Any:
            key = callers["keys"][n % 2]
            return client.get("/api/v1/me/", headers={"Authorization": f"Bearer {key}"})

        def turn(conversation_id: str) -> Any:
            path = f"/api/v1/orgs/acme/conversations/{conversation_id}/messages/"
            return client.post(path, json={"content": "hi"}, headers={"Authorization": f"Bearer {callers['alice']}"})

        watcher = asyncio.create_task(watch())
        requests = [read(n) for n in range(READS)] + [turn(c) for c in callers["conversations"]]
        responses = await asyncio.gather(*requests)
        done.set()
        await watcher
    return responses, peak


def wait_for_connections(application_name: str, expected: int, *, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = held_connections(application_name)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = held_connections(application_name)
    return count


def test_a_burst_of_requests_never_holds_more_than_the_pool_and_then_shrinks(fake_server, fake_llm, callers) -> None:
    pool = {"DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "4", "DATABASE_POOL_TIMEOUT_SECONDS": "20"}
    with pooled_server(fake_server, **pool, DATABASE_POOL_MAX_IDLE_SECONDS="1") as (base, name):
        responses, peak = asyncio.run(burst(base, callers, sample=name))
        statuses = [r.status_code for r in responses]
        assert 500 not in statuses
        assert statuses.count(200) == READS
        assert statuses.count(201) == TURNS  # every turn answered; the pool queued them, none was refused
        assert 1 <= peak <= 4
        assert wait_for_connections(name, 1, timeout=15) == 1  # idle connections above the minimum close


def test_an_exhausted_pool_answers_503_with_retry_after_never_500(fake_server, fake_llm, callers) -> None:
    pool = {"DATABASE_POOL_MIN_SIZE": "1", "DATABASE_POOL_MAX_SIZE": "1", "DATABASE_POOL_TIMEOUT_SECONDS": "0.05"}
    responses, peak = [], 0
    with pooled_server(fake_server, **pool) as (base, name):
        # Whether the chat view's turns meet the pool while it is held depends on timing: up to three
        # bursts, until both views have refused (every answer of every burst is checked below).
        for _ in range(3):
            answered, seen = asyncio.run(burst(base, callers, sample=name))
            responses, peak = responses + answered, max(peak, seen)
            if len({r.request.url.path.endswith("/messages/") for r in answered if r.status_code == 503}) == 2:
                break
    statuses = [r.status_code for r in responses]
    refused = [r for r in responses if r.status_code == 503]
    assert 500 not in statuses
    assert set(statuses) <= {200, 201, 503}
    assert refused, "a 50 ms pool timeout under this burst must refuse some requests"
    assert peak <= 1
    for response in refused:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response.json()["error"]["details"]["dependency"] == "database"
    paths = {r.request.url.path.endswith("/messages/") for r in refused}
    assert paths == {True, False}  # both the DRF view and the async chat view answered 503
