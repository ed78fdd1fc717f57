"""The conversation websocket through the full ASGI stack, against the fake model over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator

from chatpresets.asgi import application
from chatpresets.llm import gateway
from chatpresets.llm.tokens import count_text
from conversations import services
from conversations.models import Message
from tenancy import services as tenancy_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]


def communicator(path: str, key: str | None = None, headers: list | None = None) -> WebsocketCommunicator:
    all_headers = list(headers or [])
    if key:
        all_headers.append((b"authorization", f"Bearer {key}".encode()))
    return WebsocketCommunicator(application, path, headers=all_headers)


async def refusal(socket: WebsocketCommunicator) -> tuple[bool, int | None]:
    """(accepted, close code) of a handshake the server refuses: accepted, then closed at once."""
    connected, code = await socket.connect()
    if connected:
        message = await socket.receive_output(timeout=5)
        code = message.get("code") if message["type"] == "websocket.close" else None
    await socket.disconnect()
    return connected, code


async def reply(socket: WebsocketCommunicator) -> dict[str, Any]:
    """The next frame answering us, skipping other tabs' `message` events that may arrive meanwhile."""
    while (frame := await socket.receive_json_from(timeout=5))["type"] == "message":
        pass
    return frame


async def frames_until_done(socket: WebsocketCommunicator) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await socket.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


async def test_send_streams_ack_deltas_done_and_stores_both_messages(chat, fake_llm) -> None:
    fake_llm.config.output_tokens = 3
    socket = communicator(chat["path"], chat["key"])
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "send", "content": "Hello there", "client_id": "c1"})
    frames = await frames_until_done(socket)
    assert [f["type"] for f in frames] == ["ack", "delta", "delta", "delta", "done"]
    assert frames[0]["message"]["content"] == "Hello there"
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "w0 w1 w2 "
    done = frames[-1]
    assert (done["message"]["status"], done["message"]["content"]) == ("complete", "w0 w1 w2 ")
    assert done["usage"]["completion_tokens"] == count_text("w0 w1 w2 ", "o200k_base")  # counted locally
    stored = await sync_to_async(list)(
        Message.objects.filter(conversation=chat["conversation"]).values_list("role", "status")
    )
    assert stored == [("user", "complete"), ("assistant", "complete")]
    sent = fake_llm.requests[-1]["messages"]
    assert sent == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello there"},
    ]
    await socket.disconnect()


async def test_stop_mid_stream_keeps_the_partial_answer_as_cancelled(chat, fake_llm) -> None:
    fake_llm.config.output_tokens = 200
    fake_llm.config.token_delay = 0.1  # 20 s of answer: a stop on a loaded machine still lands mid-stream
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    await socket.send_json_to({"type": "send", "content": "Tell me everything"})
    assert (await socket.receive_json_from())["type"] == "ack"
    assert (await socket.receive_json_from())["type"] == "delta"
    await socket.send_json_to({"type": "stop"})
    frames = await frames_until_done(socket)
    done = frames[-1]
    assert done["message"]["status"] == "cancelled"
    partial = done["message"]["content"]
    assert partial.startswith("w0 ")
    assert len(partial.split()) < 200
    answer = await sync_to_async(Message.objects.get)(conversation=chat["conversation"], role="assistant")
    assert (answer.status, answer.content) == ("cancelled", partial)
    await socket.disconnect()


async def test_other_organisation_and_other_users_are_refused_at_handshake(chat, carol, globex, bob, acme) -> None:
    _, carol_key = await sync_to_async(tenancy_services.api_key_create)(
        org=globex, actor=carol, name="c", scopes=["chat"], expires_at=None
    )
    _, bob_key = await sync_to_async(tenancy_services.api_key_create)(
        org=acme, actor=bob, name="b", scopes=["chat"], expires_at=None
    )
    for key, path in [
        (carol_key, chat["path"]),
        (carol_key, chat["path"].replace("/acme/", "/globex/")),
        (bob_key, chat["path"]),
        ("cpk_000000000000_forged", chat["path"]),
    ]:
        assert await refusal(communicator(path, key)) == (True, 4401 if "forged" in key else 4404)
    assert await refusal(communicator(chat["path"])) == (True, 4401)  # no key, no session, no Origin


async def test_a_conversation_id_that_is_not_a_uuid_is_refused_like_an_unknown_one(chat) -> None:
    path = chat["path"].replace(str(chat["conversation"].pk), "a6232c7D8D3DdE294-f4DaCf00CFf4ab")
    assert await refusal(communicator(path, chat["key"])) == (True, 4404)


async def test_key_without_chat_scope_is_refused_with_4403_like_the_api_403(chat, alice, acme) -> None:
    _, read_key = await sync_to_async(tenancy_services.api_key_create)(
        org=acme, actor=alice, name="r", scopes=["presets:read"], expires_at=None
    )
    assert await refusal(communicator(chat["path"], read_key)) == (True, 4403)


async def test_session_socket_needs_an_allowed_origin(chat, alice, client) -> None:
    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    no_origin = communicator(chat["path"], headers=[(b"cookie", cookie)])
    assert (await no_origin.connect())[0] is False
    evil = communicator(chat["path"], headers=[(b"cookie", cookie), (b"origin", b"https://evil.example")])
    assert (await evil.connect())[0] is False
    good = communicator(chat["path"], headers=[(b"cookie", cookie), (b"origin", b"http://localhost")])
    assert (await good.connect())[0] is True
    await good.disconnect()


async def test_bad_frames_get_error_frames_and_nothing_is_stored(chat) -> None:
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    await socket.send_json_to({"type": "dance"})
    assert (await socket.receive_json_from())["code"] == "unknown_frame"
    await socket.send_json_to({"type": "send", "content": "   "})
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.send_json_to({"type": "send", "content": 42})
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from())["code"] == "invalid_json"
    assert await sync_to_async(Message.objects.filter(conversation=chat["conversation"]).count)() == 0
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from())["type"] == "pong"
    await socket.disconnect()


async def test_second_send_while_streaming_is_refused(chat, fake_llm) -> None:
    fake_llm.config.output_tokens = 50
    fake_llm.config.token_delay = 0.02
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    await socket.send_json_to({"type": "send", "content": "first"})
    assert (await socket.receive_json_from())["type"] == "ack"
    await socket.send_json_to({"type": "send", "content": "second"})
    frames = []
    while not any(f.get("code") == "turn_in_progress" for f in frames):
        frames.append(await socket.receive_json_from(timeout=5))
    await frames_until_done(socket)
    assert await sync_to_async(Message.objects.filter(conversation=chat["conversation"], role="user").count)() == 1
    await socket.disconnect()


async def test_model_outage_is_an_error_frame_and_keeps_the_user_message(chat, fake_llm) -> None:
    fake_llm.inject(*["500"] * 6)
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    await socket.send_json_to({"type": "send", "content": "anyone there?"})
    frames = await frames_until_done(socket)
    assert [f["type"] for f in frames] == ["ack", "error"]
    assert frames[-1]["code"] == "model_unavailable"
    stored = await sync_to_async(list)(
        Message.objects.filter(conversation=chat["conversation"]).values_list("role", "status", "error_code")
    )
    assert stored == [("user", "complete", ""), ("assistant", "failed", "model_unavailable")]
    await socket.disconnect()


async def test_retry_with_the_same_client_id_replays_without_a_second_model_call(chat, fake_llm) -> None:
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    await socket.send_json_to({"type": "send", "content": "once", "client_id": "same"})
    first = await frames_until_done(socket)
    await socket.send_json_to({"type": "send", "content": "once", "client_id": "same"})
    again = await frames_until_done(socket)
    assert [f["type"] for f in again] == ["ack", "done"]
    assert again[-1]["message"]["id"] == first[-1]["message"]["id"]
    assert len(fake_llm.requests) == 1
    await socket.send_json_to({"type": "send", "content": "different", "client_id": "same"})
    assert (await socket.receive_json_from())["code"] == "idempotency_key_reused"
    await socket.disconnect()


async def test_other_tabs_hear_of_completed_messages(chat) -> None:
    first, second = communicator(chat["path"], chat["key"]), communicator(chat["path"], chat["key"])
    await first.connect()
    await second.connect()
    await first.send_json_to({"type": "send", "content": "hi"})
    done = (await frames_until_done(first))[-1]
    event = await second.receive_json_from(timeout=5)
    assert (event["type"], event["message"]["id"]) == ("message", done["message"]["id"])
    await first.disconnect()
    await second.disconnect()


async def test_regenerate_and_edit_frames(chat, fake_llm) -> None:
    socket = communicator(chat["path"], chat["key"])
    await socket.connect()
    fake_llm.config.reply = "one"
    await socket.send_json_to({"type": "send", "content": "q1"})
    await frames_until_done(socket)
    fake_llm.config.reply = "two"
    await socket.send_json_to({"type": "regenerate"})
    regenerated = await frames_until_done(socket)
    assert regenerated[0]["message"]["content"] == "q1"
    assert regenerated[-1]["message"]["content"] == "two"
    await socket.send_json_to({"type": "edit", "content": "q1, rephrased"})
    edited = await frames_until_done(socket)
    assert edited[0]["message"]["content"] == "q1, rephrased"
    assert fake_llm.requests[-1]["messages"][1:] == [{"role": "user", "content": "q1, rephrased"}]
    live = await sync_to_async(list)(
        Message.objects.filter(conversation=chat["conversation"], superseded=False).values_list("content", flat=True)
    )
    assert live == ["q1, rephrased", "two"]
    await socket.disconnect()


async def test_reconnecting_socket_resumes_a_live_answer_where_it_left_off(chat, fake_llm) -> None:
    fake_llm.config.output_tokens = 30
    fake_llm.config.token_delay = 0.02
    first = communicator(chat["path"], chat["key"])
    await first.connect()
    await first.send_json_to({"type": "send", "content": "long answer please"})
    await first.receive_json_from()  # ack
    seen = [await first.receive_json_from(), await first.receive_json_from()]
    message_id = seen[0]["message_id"]
    await first.disconnect()
    second = communicator(chat["path"], chat["key"])
    await second.connect()
    await second.send_json_to({"type": "resume", "message_id": message_id, "after_seq": 2})
    frames = await frames_until_done(second)
    deltas = [f for f in frames if f["type"] == "delta"]
    assert deltas[0]["seq"] == 3
    assert "".join(f["text"] for f in seen + deltas) == "".join(f"w{i} " for i in range(30))
    assert frames[-1]["message"]["status"] == "complete"
    await second.send_json_to({"type": "resume", "message_id": message_id, "after_seq": 0})
    stored = await reply(second)
    assert (stored["type"], stored["message"]["content"]) == ("done", "".join(f"w{i} " for i in range(30)))
    await second.send_json_to({"type": "resume", "message_id": "00000000-0000-0000-0000-000000000000"})
    assert (await reply(second))["code"] == "not_found"
    await second.disconnect()


async def test_without_redis_a_reconnecting_socket_resumes_from_this_process(chat, fake_llm, settings) -> None:
    settings.REDIS_URL = ""  # the embedded run: one process, nothing published
    fake_llm.config.output_tokens, fake_llm.config.token_delay = 20, 0.02
    first = communicator(chat["path"], chat["key"])
    await first.connect()
    await first.send_json_to({"type": "send", "content": "long answer please"})
    await first.receive_json_from()  # ack
    message_id = (await first.receive_json_from())["message_id"]
    await first.disconnect()
    second = communicator(chat["path"], chat["key"])
    await second.connect()
    await second.send_json_to({"type": "resume", "message_id": message_id, "after_seq": 1})
    frames = await frames_until_done(second)
    assert [f["seq"] for f in frames[:-1]] == list(range(2, 21))
    assert frames[-1]["message"]["content"] == "".join(f"w{i} " for i in range(20))
    await second.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_unexpected_failure_is_an_error_frame_and_the_socket_lives_on(chat, fake_llm, monkeypatch) -> None:
    async def broken_stream(**kwargs):
        raise RuntimeError("an unmapped error in the model client")

    def broken_regenerate(**kwargs):
        raise RuntimeError("a bug while preparing")

    monkeypatch.setattr(gateway, "stream_chat", broken_stream)
    monkeypatch.setattr(services, "prepare_regenerate_locked", broken_regenerate)
    socket = communicator(chat["path"], chat["key"])
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "send", "content": "hello"})
    assert (await reply(socket))["type"] == "ack"
    failed = await reply(socket)  # the answer failed: the socket is told, not left waiting
    assert (failed["type"], failed["code"]) == ("error", "internal_error")
    await socket.send_json_to({"type": "regenerate"})
    assert (await reply(socket))["code"] == "internal_error"  # a frame that fails does not close the socket
    await socket.send_json_to({"type": "ping"})
    assert await reply(socket) == {"type": "pong"}
    await socket.disconnect()
