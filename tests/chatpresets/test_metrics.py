"""/metrics: off is 404, a scrape needs the token, and a chat turn shows in its counters and histograms."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chatpresets.llm import gateway
from chatpresets.observability import metrics
from tests.chatpresets.observability import METRICS_TOKEN, scrape, send_turn, start_conversation, value
from tests.conversations.test_guardrails import NO_QUOTAS


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = METRICS_TOKEN


def test_metrics_are_404_while_off(client, db, settings) -> None:
    settings.METRICS_ENABLED = False
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 404


def test_off_means_no_op_children(settings) -> None:
    settings.METRICS_ENABLED = False
    assert metrics.CHAT_TURNS.labels("http", "complete") is metrics.NOOP


def test_a_scrape_without_credentials_is_401_in_the_error_shape(client, db, metrics_on) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Bearer {METRICS_TOKEN}x", "Bearer "])
def test_a_scrape_with_a_wrong_token_is_403(client, db, metrics_on, header) -> None:
    response = client.get("/metrics", HTTP_AUTHORIZATION=header)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("permission_denied", "not_authenticated")


def test_without_a_configured_token_every_scrape_is_refused(client, db, settings) -> None:
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code in (401, 403)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 403


def test_a_chat_turn_shows_in_the_counters_and_histograms(api, alice, fake_llm, metrics_on) -> None:
    fake_llm.config.output_tokens = 4
    client = api(alice)
    conversation_id = start_conversation(client)
    before = scrape(APIClient())
    assert send_turn(client, conversation_id).status_code == 201
    after = scrape(APIClient())

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("chatpresets_chat_turns_total", transport="http", outcome="complete") == 1
    assert grew("chatpresets_time_to_first_token_seconds_count", model="fake", transport="http") == 1
    assert grew("chatpresets_added_time_to_first_token_seconds_count", transport="http") == 1
    assert grew("chatpresets_time_per_output_token_seconds_count", model="fake") == 1
    assert grew("chatpresets_tokens_total", model="fake", plan="free", kind="completion") > 0
    assert grew("chatpresets_tokens_total", model="fake", plan="free", kind="prompt") > 0
    assert grew("chatpresets_cost_dollars_total", model="fake", plan="free") > 0
    route = {"route": "conversation-messages", "method": "POST"}
    assert grew("chatpresets_http_requests_total", status="201", **route) == 1
    assert grew("chatpresets_http_request_duration_seconds_count", **route) == 1
    assert grew("chatpresets_upstream_requests_total", endpoint="fake") == 1
    assert value(after, "chatpresets_active_streams") == 0  # the stream ended


def test_requests_by_route_name_or_unmatched(client, db, metrics_on) -> None:
    before = scrape(APIClient())
    client.get("/healthz")
    client.get("/no-such-page/")
    after = scrape(APIClient())
    healthz = {"route": "healthz", "method": "GET", "status": "200"}
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    for labels in (healthz, unmatched):
        assert (
            value(after, "chatpresets_http_requests_total", **labels)
            - value(before, "chatpresets_http_requests_total", **labels)
            == 1
        )


def test_upstream_attempts_errors_retries_and_fallbacks_by_endpoint(api, alice, fake_llm, metrics_on) -> None:
    fake_llm.inject("500", "500", "500")  # every attempt on `fake` fails: two retries, then the backup
    client = api(alice)
    conversation_id = start_conversation(client)
    before = scrape(APIClient())
    assert send_turn(client, conversation_id).status_code == 201
    after = scrape(APIClient())
    errors = value(after, "chatpresets_upstream_errors_total", endpoint="fake", kind="server_error")
    assert errors - value(before, "chatpresets_upstream_errors_total", endpoint="fake", kind="server_error") == 3
    retries = value(after, "chatpresets_upstream_retries_total", endpoint="fake")
    assert retries - value(before, "chatpresets_upstream_retries_total", endpoint="fake") == 2
    fallbacks = value(after, "chatpresets_upstream_fallbacks_total", model="fake")
    assert fallbacks - value(before, "chatpresets_upstream_fallbacks_total", model="fake") == 1
    # Every attempt is a request: three failed ones on `fake`, one answered by its fallback's endpoint.
    for endpoint, attempts in (("fake", 3), ("fake-backup", 1)):
        requests = value(after, "chatpresets_upstream_requests_total", endpoint=endpoint)
        assert requests - value(before, "chatpresets_upstream_requests_total", endpoint=endpoint) == attempts


def test_an_open_circuit_breaker_shows_until_the_endpoint_answers(api, alice, fake_llm, metrics_on, settings) -> None:
    settings.GATEWAY_BREAKER_THRESHOLD, settings.GATEWAY_RETRIES = 1, 0
    client = api(alice)
    conversation_id = start_conversation(client)
    fake_llm.inject("500")
    assert send_turn(client, conversation_id, "one").status_code == 201  # answered by the backup
    assert value(scrape(APIClient()), "chatpresets_circuit_breaker_open", endpoint="fake") == 1
    gateway._breakers[fake_llm_base(settings)].opened_at = 0.0  # the cooldown is over
    assert send_turn(client, conversation_id, "two").status_code == 201
    assert value(scrape(APIClient()), "chatpresets_circuit_breaker_open", endpoint="fake") == 0


def fake_llm_base(settings) -> str:
    return settings.MODEL_CATALOGUE[0]["base_url"]


def test_a_rate_limit_refusal_counts_by_kind_and_as_a_refused_turn(api, acme, alice, fake_llm, metrics_on) -> None:
    acme.settings = {**acme.settings, "limits": {**NO_QUOTAS, "user_rpm": 1}}
    acme.save()
    client = api(alice)
    conversation_id = start_conversation(client)
    before = scrape(APIClient())
    assert send_turn(client, conversation_id, "one").status_code == 201
    refused = send_turn(client, conversation_id, "two")
    assert refused.status_code == 429, refused.json()
    after = scrape(APIClient())
    assert (
        value(after, "chatpresets_limit_refusals_total", kind="rate")
        - value(before, "chatpresets_limit_refusals_total", kind="rate")
        == 1
    )
    assert (
        value(after, "chatpresets_chat_turns_total", transport="http", outcome="refused")
        - value(before, "chatpresets_chat_turns_total", transport="http", outcome="refused")
        == 1
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fake_llm")
async def test_open_websockets_count_while_open(acme, alice, metrics_on) -> None:
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from chatpresets.asgi import application
    from tests.chatpresets.observability import chat_socket

    def open_sockets() -> float:
        return metrics.REGISTRY.get_sample_value("chatpresets_open_websockets") or 0.0

    path, key = await database_sync_to_async(chat_socket)(acme, alice)
    before = open_sockets()
    socket = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Bearer {key}".encode())])
    assert (await socket.connect())[0]
    assert open_sockets() == before + 1
    await socket.disconnect()
    assert open_sockets() == before
