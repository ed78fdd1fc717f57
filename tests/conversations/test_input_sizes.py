"""Input sizes on the chat paths: messages on every transport, /v1, bodies, frames and summaries."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import aiohttp
import pytest
from django.urls import reverse

from chatpresets.llm.tokens import count_message, count_text
from conversations import tasks
from conversations.models import Conversation, Message
from tests.conversations.test_websocket import communicator, frames_until_done, reply
from tests.presets_world import make_preset
from tests.server import daphne

pytestmark = pytest.mark.usefixtures("fake_llm")
COMPLETIONS = "/v1/chat/completions"


def url(name: str, **kwargs) -> str:
    return reverse(name, kwargs={"org_slug": "acme", **kwargs})


def assert_too_large(response, limit: str) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["details"]["limit"]) == ("too_large", limit)
    return error["details"]


def test_a_message_over_the_limit_is_refused_before_anything_is_stored(api, alice, settings) -> None:
    settings.MESSAGE_MAX_CHARS = 1_000
    chat = api(alice).post(url("conversation-list"), {}, format="json").json()
    path = url("conversation-messages", pk=chat["id"])
    details = assert_too_large(api(alice).post(path, {"content": "m" * 1_001}, format="json"), "MESSAGE_MAX_CHARS")
    assert details == {"field": "content", "limit": "MESSAGE_MAX_CHARS", "limit_value": 1_000, "size": 1_001}
    assert not Message.objects.exists()
    assert api(alice).post(path, {"content": "m" * 1_000}, format="json").status_code == 201


def test_an_edit_over_the_limit_is_refused_and_keeps_the_old_question(api, alice, settings) -> None:
    settings.MESSAGE_MAX_CHARS = 1_000
    chat = api(alice).post(url("conversation-list"), {}, format="json").json()
    api(alice).post(url("conversation-messages", pk=chat["id"]), {"content": "first"}, format="json")
    response = api(alice).post(url("conversation-edit", pk=chat["id"]), {"content": "e" * 1_001}, format="json")
    assert_too_large(response, "MESSAGE_MAX_CHARS")
    assert not Message.objects.filter(superseded=True).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_message_over_the_limit_gets_a_too_large_frame(chat, settings) -> None:
    settings.MESSAGE_MAX_CHARS = 1_000
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "w" * 1_001})
    frame = await reply(socket)
    assert (frame["type"], frame["code"], frame["details"]["limit"]) == ("error", "too_large", "MESSAGE_MAX_CHARS")
    await socket.disconnect()


def test_json_nested_too_deeply_is_a_parse_error_on_the_async_views(api, alice, acme, make_key) -> None:
    _, key = make_key(alice, acme, ["chat"])
    chat = api(alice).post(url("conversation-list"), {}, format="json").json()
    deep = "[" * 100_000 + "]" * 100_000
    for client, path in [
        (api(alice), url("conversation-messages", pk=chat["id"])),
        (api(key=key), COMPLETIONS),
    ]:
        response = client.generic("POST", path, deep, content_type="application/json")
        assert (response.status_code, response.json()["error"]["code"]) == (400, "parse_error")


@pytest.fixture
def completions(api, alice, acme, make_key):
    _, key = make_key(alice, acme, ["chat"])

    def post(body: dict):
        return api(key=key).post(COMPLETIONS, {"model": "fake", **body}, format="json")

    return post


def test_completions_refuse_too_many_messages(completions, settings) -> None:
    settings.COMPLETIONS_MAX_MESSAGES = 3
    response = completions({"messages": [{"role": "user", "content": "hi"}] * 4})
    assert assert_too_large(response, "COMPLETIONS_MAX_MESSAGES")["size"] == 4
    assert completions({"messages": [{"role": "user", "content": "hi"}] * 3}).status_code == 200


def test_completions_refuse_messages_too_long_together(completions, settings) -> None:
    settings.COMPLETIONS_MAX_CHARS = 100
    messages = [{"role": "system", "content": "s" * 60}, {"role": "user", "content": "u" * 41}]
    assert assert_too_large(completions({"messages": messages}), "COMPLETIONS_MAX_CHARS")["size"] == 101


def test_completions_refuse_oversized_or_malformed_preset_variables(completions, acme, alice) -> None:
    make_preset(acme, alice, "echo", variables=[{"name": "x"}])
    user = [{"role": "user", "content": "hi"}]
    big = completions({"model": "preset:echo", "messages": user, "variables": {"x": "x" * 400_000}})
    assert assert_too_large(big, "PRESET_VARIABLE_MAX_CHARS")["field"] == "variables.x"
    for variables in (["x"], {"x": {"deep": "x"}}):
        response = completions({"model": "preset:echo", "messages": user, "variables": variables})
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid")


@pytest.fixture(scope="module")
def server():
    """A daphne process: the body limit answers before any view or database is reached."""
    with daphne({"REQUEST_BODY_MAX_BYTES": "100000"}) as base:
        yield base


def test_a_body_over_the_limit_is_413_with_a_json_error(server) -> None:
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"{server}/api/v1/orgs/acme/presets/", data=b"{" + b" " * 200_000 + b"}", method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert error.value.code == 413
    body = json.loads(error.value.read())
    assert body["error"]["code"] == "request_too_large"
    assert body["error"]["details"] == {"limit": "REQUEST_BODY_MAX_BYTES", "limit_value": 100_000}


def test_a_chunked_body_over_the_limit_is_413_too(server) -> None:
    parts = urlsplit(server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    chunks = (b" " * 10_000 for _ in range(30))  # no Content-Length: sent chunked
    connection.request("POST", "/v1/chat/completions", body=chunks, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["code"] == "request_too_large"
    connection.close()


def test_a_body_under_the_limit_reaches_the_view(server) -> None:
    request = urllib.request.Request(f"{server}/v1/chat/completions", data=b"{}", method="POST")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert error.value.code == 401  # the view answered: no key


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frame_over_the_limit_closes_the_socket_with_1009(live) -> None:
    url_ = live["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{live['conversation'].pk}/"
    headers = {"Authorization": f"Bearer {live['key']}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url_, headers=headers) as socket:
        await socket.send_str(json.dumps({"type": "send", "content": "x" * 3_000_000}))
        message = await socket.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.data == 1009


def test_a_summary_backlog_is_folded_in_calls_that_each_fit_the_summary_models_window(acme, alice, fake_llm) -> None:
    chat = Conversation.objects.create(org=acme, user=alice)
    text = "word " * 1_500  # about 1,500 tokens: six of them are twice the fake model's 4,096
    for seq in range(1, 7):
        role = "user" if seq % 2 else "assistant"
        Message.objects.create(
            org=acme, conversation=chat, seq=seq, role=role, content=text,
            token_count=count_message(role, text, "o200k_base"),
        )  # fmt: skip
    fake_llm.config.reply = "Summary so far."
    assert tasks.summarise(conversation_id=str(chat.pk), org_id=str(acme.pk), through_seq=6) == 6
    calls = [request for request in fake_llm.requests if "Current summary" in request["messages"][1]["content"]]
    assert len(calls) > 1
    for call in calls:
        prompt = sum(count_text(m["content"], "o200k_base") for m in call["messages"])
        assert prompt + call["max_tokens"] <= 4_096
    chat.refresh_from_db()
    assert (chat.summary_through_seq, chat.summary) == (6, "Summary so far.")


def test_one_message_longer_than_the_summary_window_is_cut_to_fit(acme, alice, fake_llm) -> None:
    chat = Conversation.objects.create(org=acme, user=alice)
    text = "word " * 6_000
    Message.objects.create(
        org=acme, conversation=chat, seq=1, role="user", content=text,
        token_count=count_message("user", text, "o200k_base"),
    )  # fmt: skip
    assert tasks.summarise(conversation_id=str(chat.pk), org_id=str(acme.pk), through_seq=1) == 1
    sent = fake_llm.requests[-1]
    assert sum(count_text(m["content"], "o200k_base") for m in sent["messages"]) + sent["max_tokens"] <= 4_096


def test_variables_without_a_preset_are_refused_and_nothing_is_stored(api, alice) -> None:
    client = api(alice)
    created = client.post(url("conversation-list"), {"variables": {"x": "z" * 9_000}}, format="json")
    assert created.status_code == 400
    assert (created.json()["error"]["code"], created.json()["error"]["details"]["field"]) == ("invalid", "variables")
    assert not Conversation.objects.exists()

    chat = client.post(url("conversation-list"), {}, format="json").json()
    applied = client.post(
        url("conversation-preset", pk=chat["id"]), {"preset": None, "variables": {"x": "z"}}, format="json"
    )
    assert applied.status_code == 400
    assert Conversation.objects.get(pk=chat["id"]).variables == {}


@pytest.mark.django_db(transaction=True)
async def test_a_null_character_in_a_websocket_message_or_client_id_gets_an_error_frame(chat, fake_llm) -> None:
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    request_ids = set()
    for frame in [
        {"type": "send", "content": "a\x00b"},
        {"type": "send", "content": "fine", "client_id": "c\x00"},
        {"type": "edit", "content": "a\x00b"},
    ]:
        await socket.send_json_to(frame)
        answer = await reply(socket)
        assert (answer["type"], answer["code"]) == ("error", "invalid"), frame
        assert answer["message"] == "Null characters are not allowed."
        request_ids.add(answer["request_id"])
    assert len(request_ids) == 3  # each refused turn is a request of its own
    assert "" not in request_ids
    assert fake_llm.requests == []  # refused before any model call
    await socket.send_json_to({"type": "send", "content": "still here"})
    assert (await reply(socket))["type"] == "ack"  # the socket lived through it
    assert (await frames_until_done(socket))[-1]["type"] == "done"  # no answer left writing after the test
    await socket.disconnect()


def test_an_idempotency_key_header_over_100_characters_is_refused_like_a_long_client_id(api, alice, fake_llm) -> None:
    client = api(alice)
    path = url("conversation-messages", pk=client.post(url("conversation-list"), {}, format="json").json()["id"])
    by_header = client.post(path, {"content": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 101)
    in_body = client.post(path, {"content": "Hi", "client_id": "k" * 101}, format="json")
    assert by_header.status_code == in_body.status_code == 400
    assert by_header.json() == in_body.json()
    assert by_header.json()["error"]["details"]["fields"]["client_id"]
    assert fake_llm.requests == []
    accepted = client.post(path, {"content": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 100)
    assert accepted.status_code == 201
