"""A chat turn's spans reach the exporter in the right parent-child order (websocket and /v1)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import override_settings
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatpresets.observability import timing, tracing
from tests.api_docs import response_body
from tests.chatpresets.observability import chat_socket, websocket_turn

EXPORTER = InMemorySpanExporter()  # the tracer provider is set once per process: one exporter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    tracing.configure(exporter=EXPORTER)
    EXPORTER.clear()
    yield EXPORTER
    tracing.disable()
    EXPORTER.clear()


def by_name(exported) -> dict:
    """The turn's spans by name (the first of each): those in the trace of the one `chat.turn`."""
    turns = [span for span in exported if span.name == "chat.turn"]
    assert len(turns) == 1, [span.name for span in exported]
    found = {}
    for span in exported:
        if span.context.trace_id == turns[0].context.trace_id:
            found.setdefault(span.name, span)
    return found


def parent_of(span, named: dict):
    parent_id = span.parent.span_id if span.parent is not None else None
    return next((name for name, other in named.items() if other.context.span_id == parent_id), None)


def assert_turn_tree(named: dict, *, context_holds_guardrails: bool) -> None:
    turn = named["chat.turn"]
    for child in ("chat.caller", "chat.context", "chat.model", "chat.persistence"):
        assert parent_of(named[child], named) == "chat.turn", child
        assert named[child].context.trace_id == turn.context.trace_id
    assert parent_of(named["chat.first_token"], named) == "chat.model"
    assert parent_of(named["chat.guardrails"], named) == ("chat.context" if context_holds_guardrails else "chat.turn")
    order = ["chat.caller", "chat.context", "chat.model", "chat.first_token", "chat.persistence"]
    starts = [named[name].start_time for name in order]
    assert starts == sorted(starts)
    assert named["chat.first_token"].end_time <= named["chat.model"].end_time


def test_v1_completion_spans_nest_under_the_request_span(spans, api, acme, alice, make_key, fake_llm) -> None:
    _, secret = make_key(alice, acme, ["chat"])
    response = api(key=secret).post(
        "/v1/chat/completions",
        {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True},
        format="json",
    )
    assert response.status_code == 200
    assert b"[DONE]" in response_body(response)
    named = by_name(spans.get_finished_spans())
    assert_turn_tree(named, context_holds_guardrails=True)
    request = parent_of(named["chat.turn"], named)
    assert request is not None
    assert request.startswith("POST"), request  # Django's instrumentation


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fake_llm")
async def test_websocket_turn_spans(spans, acme, alice) -> None:
    frame = await websocket_turn(*await database_sync_to_async(chat_socket)(acme, alice))
    assert frame["type"] == "done", frame
    named = by_name(spans.get_finished_spans())
    assert_turn_tree(named, context_holds_guardrails=False)
    assert named["chat.turn"].parent is None  # a websocket turn is its own trace
    assert named["chat.turn"].attributes["transport"] == "websocket"
    # The Redis instrumentation's spans (the rate limiter's script) belong to the turn's trace.
    assert any(span.attributes.get("db.system") == "redis" for span in named.values()), sorted(named)


def test_tracing_on_and_off_under_a_settings_override_leaves_the_middleware_as_it_was() -> None:
    before = list(django_settings.MIDDLEWARE)
    with override_settings(OTEL_SERVICE_NAME="chatpresets-test"):  # a layer over the settings, as fixtures add
        tracing.configure(exporter=EXPORTER)
        tracing.disable()
    assert list(django_settings.MIDDLEWARE) == before


def test_without_configuration_nothing_is_traced(settings) -> None:
    settings.OTEL_EXPORTER_OTLP_ENDPOINT, settings.OTEL_ENABLED = "", False
    assert tracing.configure() is False
    assert not tracing.active()
    assert tracing.span("chat.anything") is tracing.NULL
    outside_a_turn = contextvars.Context()  # a sync test client leaves its last turn in this one
    assert outside_a_turn.run(timing.stage, "context") is tracing.NULL  # only its span, and no span


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fake_llm")
async def test_an_asgi_request_span_is_the_turns_parent(spans, acme, alice) -> None:
    from django.test import AsyncClient

    path, key = await database_sync_to_async(chat_socket)(acme, alice)
    conversation_id = path.rstrip("/").rsplit("/", 1)[-1]
    response = await AsyncClient().post(
        f"/api/v1/orgs/acme/conversations/{conversation_id}/messages/",
        {"content": "Hello"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.content
    named = by_name(spans.get_finished_spans())
    assert_turn_tree(named, context_holds_guardrails=False)
    request = parent_of(named["chat.turn"], named)
    assert request is not None
    assert request.startswith("POST"), request
