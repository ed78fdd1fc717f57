"""Real answers of the chat routes (plain async views) are the bodies the OpenAPI schema documents.

Each answer is validated against the schema of its own operation, status and media type, so a
change to what send.py, turns.py or openai_compat.py emit, or to their descriptions, fails here.
"""

from __future__ import annotations

import json
import uuid

import pytest

from conversations.models import Conversation
from tests.openapi_check import (
    assert_answer_matches,
    assert_documented,
    assert_event_matches,
    assert_request_matches,
    documented_response,
    generated_schema,
    operation,
    server_sent_events,
)

pytestmark = pytest.mark.usefixtures("fake_llm")

CONVERSATION = "/api/v1/orgs/{org_slug}/conversations/{id}/"
MESSAGES = CONVERSATION + "messages/"
REGENERATE = CONVERSATION + "regenerate/"
EDIT = CONVERSATION + "edit/"
COMPLETIONS = "/v1/chat/completions"
MODELS = "/v1/models"


def error_shape() -> dict:
    return {"$ref": "#/components/schemas/Error"}


@pytest.fixture
def conversation(acme, alice) -> Conversation:
    return Conversation.objects.create(org=acme, user=alice)


@pytest.fixture
def chat_key(make_key, alice, acme) -> str:
    return make_key(alice, acme, ["chat"])[1]


def url(template: str, conversation: Conversation) -> str:
    return template.format(org_slug="acme", id=conversation.pk)


def post(client, path: str, body: dict, **headers):
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def test_a_json_answer_and_its_replay_are_the_documented_bodies(api, alice, conversation) -> None:
    body = {"content": "Hello", "client_id": "retry-1"}
    assert_request_matches(MESSAGES, "post", body)
    first = post(api(alice), url(MESSAGES, conversation), body)
    assert first.status_code == 201
    answer = assert_documented(MESSAGES, "post", first)
    assert (answer["user_message"]["content"], answer["message"]["status"]) == ("Hello", "complete")
    replay = post(api(alice), url(MESSAGES, conversation), body)
    assert replay.status_code == 200
    assert assert_documented(MESSAGES, "post", replay)["message"]["id"] == answer["message"]["id"]


def test_streamed_events_are_the_documented_events(api, alice, conversation) -> None:
    body = {"content": "Hello", "stream": True}
    assert_request_matches(MESSAGES, "post", body)
    response = post(api(alice), url(MESSAGES, conversation), body)
    assert (response.status_code, response["Content-Type"]) == (200, "text/event-stream")
    event_schema = documented_response(MESSAGES, "post", 200, "text/event-stream")
    events = server_sent_events(response)
    for name, data in events:
        assert name == json.loads(data)["type"]
        assert_event_matches(event_schema, name, data)
    names = [name for name, _ in events]
    assert (names[0], names[-1], "delta" in names) == ("ack", "done", True)


def test_an_error_event_is_a_documented_event(api, alice, conversation, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    response = post(api(alice), url(MESSAGES, conversation), {"content": "Hello", "stream": True})
    events = server_sent_events(response)
    name, data = events[-1]
    assert name == "error"
    assert_event_matches(documented_response(MESSAGES, "post", 200, "text/event-stream"), name, data)
    assert json.loads(data)["request_id"] == json.loads(events[0][1])["request_id"]  # the ack's: one turn


def test_regenerate_and_edit_answers_are_the_documented_bodies(api, alice, conversation) -> None:
    client = api(alice)
    post(client, url(MESSAGES, conversation), {"content": "one"})
    assert_request_matches(REGENERATE, "post", {})
    regenerated = post(client, url(REGENERATE, conversation), {})
    assert regenerated.status_code == 201
    assert_documented(REGENERATE, "post", regenerated)
    edited = post(client, url(EDIT, conversation), {"content": "two"})
    assert edited.status_code == 201
    assert assert_documented(EDIT, "post", edited)["user_message"]["content"] == "two"


def test_the_message_list_is_the_documented_page(api, alice, conversation) -> None:
    post(api(alice), url(MESSAGES, conversation), {"content": "Hello"})
    page = assert_documented(MESSAGES, "get", api(alice).get(url(MESSAGES, conversation)))
    assert ([m["role"] for m in page["results"]], page["has_more"]) == (["user", "assistant"], False)


def test_refusals_are_documented_statuses_in_the_error_shape(api, alice, conversation) -> None:
    client = api(alice)
    path = url(MESSAGES, conversation)
    refusals = {
        400: post(client, path, {"content": " "}),
        401: post(api(), path, {"content": "Hello"}),
        404: post(client, url(MESSAGES, Conversation(pk=uuid.uuid4())), {"content": "Hello"}),
        409: post(client, url(REGENERATE, conversation), {}),
    }
    for status, response in refusals.items():
        assert response.status_code == status
        template = REGENERATE if status == 409 else MESSAGES
        assert documented_response(template, "post", status) == error_shape()
        assert_documented(template, "post", response)


def test_a_model_that_does_not_answer_is_a_documented_503(api, alice, conversation, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    response = post(api(alice), url(MESSAGES, conversation), {"content": "Hello"})
    assert response.status_code == 503
    assert assert_documented(MESSAGES, "post", response)["error"]["code"] == "model_unavailable"
    assert "Retry-After" in operation(MESSAGES, "post")["responses"]["503"]["headers"]


def test_the_request_schema_refuses_what_the_view_refuses(api, alice, conversation) -> None:
    """Bodies the schema calls invalid are refused: the types are exact, not coerced."""
    for body in ({"content": 12}, {"content": "x", "stream": "true"}, {"content": "x", "stream": 1}, {}):
        response = post(api(alice), url(MESSAGES, conversation), body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"


def test_regenerate_takes_no_content(api, alice, conversation) -> None:
    post(api(alice), url(MESSAGES, conversation), {"content": "one"})
    response = post(api(alice), url(REGENERATE, conversation), {"content": ""})
    assert response.status_code == 201
    assert "content" not in generated_schema()["components"]["schemas"]["RegenerateRequest"]["properties"]


def test_a_retried_edit_returns_its_first_result(api, alice, conversation, fake_llm) -> None:
    post(api(alice), url(MESSAGES, conversation), {"content": "one"})
    body = {"content": "two", "client_id": "edit-1"}
    first = post(api(alice), url(EDIT, conversation), body)
    again = post(api(alice), url(EDIT, conversation), body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert assert_documented(EDIT, "post", again)["message"]["id"] == first.json()["message"]["id"]
    changed = post(api(alice), url(EDIT, conversation), {**body, "content": "three"})
    assert (changed.status_code, changed.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(fake_llm.requests) == 2


def test_a_before_seq_that_is_not_a_number_is_400(api, alice, conversation) -> None:
    response = api(alice).get(url(MESSAGES, conversation), {"before_seq": "null"})
    assert (response.status_code, response.json()["error"]["details"]) == (400, {"field": "before_seq"})
    assert api(alice).get(url(MESSAGES, conversation), {"before_seq": "3"}).status_code == 200


def test_other_methods_are_405_with_allow(api, alice, conversation) -> None:
    client = api(alice)
    for template, allowed in ((MESSAGES, "GET, HEAD, POST, OPTIONS"), (REGENERATE, "POST, OPTIONS")):
        refused = client.put(url(template, conversation), {}, format="json")
        assert (refused.status_code, refused["Allow"]) == (405, allowed)
        assert_answer_matches(error_shape(), refused.json())
        options = client.options(url(template, conversation))
        assert (options.status_code, options["Allow"]) == (200, allowed)


def test_a_completion_is_the_documented_body(api, chat_key) -> None:
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 20, "stop": ["\n\n"]}
    assert_request_matches(COMPLETIONS, "post", body)
    response = post(api(key=chat_key), COMPLETIONS, body)
    assert response.status_code == 200
    completion = assert_documented(COMPLETIONS, "post", response)
    assert completion["choices"][0]["message"]["content"]


def test_completion_chunks_are_the_documented_events(api, chat_key) -> None:
    body = {
        "model": "fake",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert_request_matches(COMPLETIONS, "post", body)
    response = post(api(key=chat_key), COMPLETIONS, body)
    assert (response.status_code, response["Content-Type"]) == (200, "text/event-stream")
    chunk_schema = documented_response(COMPLETIONS, "post", 200, "text/event-stream")
    events = server_sent_events(response)
    for name, data in events:
        assert_event_matches(chunk_schema, name, data)
    data = [data for _, data in events]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert (chunks[0]["choices"][0]["delta"]["role"], chunks[-1]["choices"]) == ("assistant", [])


def test_a_failed_completion_stream_ends_with_the_documented_error(api, chat_key, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    body = {"model": "fake", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    response = post(api(key=chat_key), COMPLETIONS, body)
    name, data = server_sent_events(response)[-1]
    assert "error" in json.loads(data)
    assert_event_matches(documented_response(COMPLETIONS, "post", 200, "text/event-stream"), name, data)


def test_the_model_list_is_the_documented_body(api, chat_key) -> None:
    models = assert_documented(MODELS, "get", api(key=chat_key).get(MODELS))
    assert "fake" in [model["id"] for model in models["data"]]


def test_openai_refusals_are_documented_in_openai_error_shape(api, chat_key) -> None:
    refusals = {
        400: post(api(key=chat_key), COMPLETIONS, {"model": "fake", "messages": [], "max_tokens": 5}),
        401: post(api(key="cpk_000000000000_nope"), COMPLETIONS, {"model": "fake", "messages": []}),
    }
    for status, response in refusals.items():
        assert response.status_code == status
        error = assert_documented(COMPLETIONS, "post", response)["error"]
        assert error["type"] in ("invalid_request_error", "authentication_error")
    assert refusals[400].json()["error"]["param"] == "messages"
    null_model = post(api(key=chat_key), COMPLETIONS, {"model": "preset:a\x00", "messages": [{"role": "user"}]})
    assert (null_model.status_code, null_model.json()["error"]["param"]) == (400, "model")
    object_role = post(api(key=chat_key), COMPLETIONS, {"model": "fake", "messages": [{"role": {}, "content": ""}]})
    assert (object_role.status_code, object_role.json()["error"]["param"]) == (400, "messages")


def test_other_methods_on_the_openai_routes_are_405_in_openai_shape(api, chat_key) -> None:
    refused = post(api(key=chat_key), MODELS, {})
    assert (refused.status_code, refused["Allow"]) == (405, "GET, HEAD, OPTIONS")
    assert refused.json()["error"]["type"] == "invalid_request_error"
    unauthenticated = api().get(COMPLETIONS)  # the method is refused before credentials are read
    assert (unauthenticated.status_code, unauthenticated["Allow"]) == (405, "POST, OPTIONS")
