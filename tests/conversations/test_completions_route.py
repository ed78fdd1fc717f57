"""POST /v1/chat/completions with a key, served past Django's chain: the same answers and headers, fewer hops."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import redis
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from chatpresets import admission
from chatpresets.observability import tracing
from conversations.api import completions_route, openai_compat
from conversations.api.completions_route import LEFT_OUT, ON_LOOP, CompletionsRoute
from conversations.models import UsageRecord
from tenancy.metering import stream_slots
from tenancy.metering.quota import get_quota_store
from tests.presets_world import make_preset

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
# Headers that differ between two answers by nature, not by the path they took.
PER_ANSWER = {"x-request-id", "server-timing", "content-length"}


class Chain(ASGIHandler):
    """Django's handler, noting each request that went through its whole chain."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.handled.append(f"{scope['method']} {scope['path']}")
        await super().__call__(scope, receive, send)


def scope(*, method: str = "POST", headers: list[tuple[bytes, bytes]] = (), host: bytes = b"testserver") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


def keyed(secret: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {secret}".encode())]


async def answer(app: Any, request_scope: dict, body: dict | bytes = BODY) -> tuple[int, dict[str, str], bytes]:
    """Send one request through `app` and read its whole answer."""
    communicator = ApplicationCommunicator(app, request_scope)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    await communicator.send_input({"type": "http.request", "body": raw})
    start = await communicator.receive_output(10)
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    content = b""
    while True:
        message = await communicator.receive_output(10)
        content += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], headers, content


@pytest.fixture
def secret(alice: Any, acme: Any, make_key: Any) -> str:
    return make_key(alice, acme, ["chat"])[1]


@pytest.mark.usefixtures("fake_llm")
async def test_a_keyed_completion_skips_the_chain_and_answers_with_the_chains_headers(secret: str) -> None:
    chain = Chain()
    status, headers, content = await answer(CompletionsRoute(chain), scope(headers=keyed(secret)))
    assert status == 200
    assert chain.handled == []
    assert content.rstrip().endswith(b"data: [DONE]")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert "server-timing" in headers
    assert "x-request-id" in headers
    status, through_chain, _ = await answer(chain, scope(headers=keyed(secret)))
    assert status == 200
    assert chain.handled == ["POST /v1/chat/completions"]
    assert {name: value for name, value in headers.items() if name not in PER_ANSWER} == {
        name: value for name, value in through_chain.items() if name not in PER_ANSWER
    }


@pytest.mark.usefixtures("fake_llm")
async def test_the_route_leaves_the_loop_only_for_the_caller_and_the_usage_record(secret: str, hops: list[str]) -> None:
    hops.clear()
    status, _, _ = await answer(CompletionsRoute(Chain()), scope(headers=keyed(secret)))
    assert status == 200
    assert hops[0] == "_caller_and_call"
    assert not [name for name in hops if "Middleware" in name or "Signal" in name or "close" in name]


@pytest.mark.usefixtures("fake_llm")
async def test_what_is_not_a_keyed_completion_goes_through_the_chain(secret: str, monkeypatch: Any) -> None:
    chain = Chain()
    route = CompletionsRoute(chain)
    status, _, _ = await answer(route, scope(method="GET", headers=keyed(secret)), b"")
    assert status == 405
    status, _, content = await answer(route, scope())
    assert status == 401
    assert json.loads(content)["error"]["code"] == "not_authenticated"
    monkeypatch.setattr(tracing, "active", lambda: True)  # Django's instrumentation owns the request span
    status, _, _ = await answer(route, scope(headers=keyed(secret)))
    assert status == 200
    assert chain.handled == ["GET /v1/chat/completions"] + ["POST /v1/chat/completions"] * 2


async def test_refusals_of_the_header_hooks_come_first(secret: str) -> None:
    route = CompletionsRoute(Chain())
    status, _, content = await answer(route, scope(headers=[*keyed(secret), (b"x-note", b"a\x00b")]))
    assert status == 400
    assert json.loads(content)["error"] == {
        "code": "invalid",
        "message": "Null characters are not allowed.",
        "details": {"field": "X-Note"},
    }
    status, _, content = await answer(route, scope(headers=keyed(secret), host=b"elsewhere.example"))
    assert status == 400  # ALLOWED_HOSTS, as CommonMiddleware checks it
    assert json.loads(content)["error"]["code"] == "bad_request"


async def test_a_failed_dependency_is_a_503_and_anything_else_a_logged_500(
    secret: str, monkeypatch: Any, caplog: Any
) -> None:
    route = CompletionsRoute(Chain())

    def unreachable(*args: Any) -> None:
        raise redis.ConnectionError("Connection refused.")

    monkeypatch.setattr(openai_compat, "_caller_and_call", unreachable)
    status, headers, content = await answer(route, scope(headers=keyed(secret)))
    assert status == 503
    assert "retry-after" in headers
    assert json.loads(content)["error"]["code"] == "service_unavailable"

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(openai_compat, "_caller_and_call", broken)
    status, headers, content = await answer(route, scope(headers=keyed(secret)))
    assert status == 500
    assert json.loads(content)["error"]["code"] == "server_error"
    assert "x-request-id" in headers
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in caplog.records)


async def test_a_client_that_leaves_mid_answer_stops_it_and_pays_for_what_was_made(secret: str, fake_llm: Any) -> None:
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 200, 0.05
    communicator = ApplicationCommunicator(CompletionsRoute(Chain()), scope(headers=keyed(secret)))
    await communicator.send_input({"type": "http.request", "body": json.dumps(BODY).encode()})
    assert (await communicator.receive_output(10))["status"] == 200
    while b'"content": "' not in (await communicator.receive_output(10)).get("body", b"").replace(b'""', b""):
        pass  # up to the first chunk with text
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)
    record = await database_sync_to_async(UsageRecord.objects.get)(kind="completion_api")
    assert record.status == "cancelled"
    assert 0 < record.completion_tokens < 200


@pytest.mark.usefixtures("fake_llm")
async def test_a_key_of_another_organisation_cannot_name_its_preset(
    alice: Any, acme: Any, make_key: Any, globex: Any, carol: Any
) -> None:
    await database_sync_to_async(make_preset)(acme, alice, "acme-only", scope="org")
    _, outsider = await database_sync_to_async(make_key)(carol, globex, ["chat"])
    status, _, content = await answer(
        CompletionsRoute(Chain()), scope(headers=keyed(outsider)), {**BODY, "model": "preset:acme-only"}
    )
    assert status == 404
    assert json.loads(content)["error"]["code"] == "not_found"
    assert not await database_sync_to_async(UsageRecord.objects.exists)()


@pytest.mark.usefixtures("fake_llm")
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"model": "fake", "messages": [', "parse_error"),
        (rb'{"model": "fake\u0000", "messages": [{"role": "user", "content": "Hi"}]}', "invalid"),
        (b'{"model": "fake", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "parse_error"),
        (b'{"model": "fake", "messages": [{"role": ["user"], "content": "Hi"}]}', "invalid"),
    ],
)
async def test_a_bad_body_is_a_400_and_spends_nothing(secret: str, body: bytes, code: str) -> None:
    status, _, content = await answer(CompletionsRoute(Chain()), scope(headers=keyed(secret)), body)
    assert status == 400
    assert json.loads(content)["error"]["code"] == code
    assert not await database_sync_to_async(UsageRecord.objects.exists)()


def test_every_middleware_in_settings_is_run_by_the_route_or_left_out_for_a_reason() -> None:
    assert [path for path in settings.MIDDLEWARE if path in ON_LOOP] == list(ON_LOOP)
    assert set(settings.MIDDLEWARE) - set(ON_LOOP) <= set(LEFT_OUT)
    assert set(LEFT_OUT) - set(settings.MIDDLEWARE) <= {tracing.DJANGO_MIDDLEWARE, tracing.ASYNC_DJANGO_MIDDLEWARE}


def test_the_route_is_the_views_path() -> None:
    from django.urls import reverse

    assert reverse(completions_route.ROUTE) == completions_route.PATH


@pytest.mark.usefixtures("fake_llm")
@pytest.mark.parametrize("stream", [True, False])
async def test_a_client_that_leaves_while_its_call_is_admitted_leaves_no_hold_behind(
    secret: str, monkeypatch: Any, stream: bool
) -> None:
    plan_call, admitted = openai_compat._plan_call, threading.Event()

    def slow_plan_call(*args: Any, **kwargs: Any) -> Any:
        call = plan_call(*args, **kwargs)
        admitted.set()
        time.sleep(0.3)  # the client leaves here: its call holds a slot, a gate token and reservations
        return call

    monkeypatch.setattr(openai_compat, "_plan_call", slow_plan_call)
    communicator = ApplicationCommunicator(CompletionsRoute(Chain()), scope(headers=keyed(secret)))
    await communicator.send_input({"type": "http.request", "body": json.dumps({**BODY, "stream": stream}).encode()})
    await asyncio.to_thread(admitted.wait, 10)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)
    assert stream_slots.in_use() == 0
    assert admission._gate.in_flight() == (0, 0)
    assert await pending_reservations() == 0


async def pending_reservations() -> int:
    """Quota reservations not yet settled or released, in the shared store."""
    store = get_quota_store()
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return await asyncio.to_thread(client.zcard, store._pending)
    finally:
        client.close()
