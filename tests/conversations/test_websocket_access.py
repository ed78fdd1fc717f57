"""An open websocket loses access as soon as its key, membership, role or user does."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from chatpresets.asgi import application
from conversations.consumers import CLOSE_UNAVAILABLE
from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tenancy.models import ApiKey, Membership, Role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_llm")]

PROMPT_CLOSE = 1.0  # "at once": the socket must hear of the change within this many seconds


async def open_socket(path: str, key: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Bearer {key}".encode())])
    connected, _ = await socket.connect()
    assert connected
    return socket


async def assert_revoked_and_closed(socket: WebsocketCommunicator, *, timeout: float = PROMPT_CLOSE) -> None:
    """The socket gets the `access_revoked` error frame and then the 4403 close, within `timeout`."""
    frame = await socket.receive_json_from(timeout=timeout)
    assert (frame["type"], frame["code"]) == ("error", "access_revoked")
    assert await socket.receive_output(timeout=timeout) == {"type": "websocket.close", "code": 4403}


@pytest.fixture
def bob_chat(acme, bob) -> dict[str, Any]:
    """A conversation of bob's (an Acme member), a chat key of his and its websocket path."""
    conversation = Conversation.objects.create(org=acme, user=bob, title="ws")
    api_key, secret = tenancy_services.api_key_create(org=acme, actor=bob, name="ws", scopes=["chat"], expires_at=None)
    return {"key": secret, "api_key": api_key, "path": f"/ws/orgs/acme/conversations/{conversation.pk}/"}


def bob_membership(acme, bob) -> Membership:
    return Membership.objects.select_related("org", "user").get(org=acme, user=bob)


async def test_revoking_the_key_closes_its_open_socket_at_once(bob_chat, bob, fake_llm) -> None:
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    await sync_to_async(tenancy_services.api_key_revoke)(api_key=bob_chat["api_key"], actor=bob)
    await assert_revoked_and_closed(socket)
    assert fake_llm.requests == []


async def test_a_frame_on_a_key_revoked_without_notice_is_refused_without_a_model_call(bob_chat, fake_llm) -> None:
    """The race: the key is revoked but the socket has not heard yet; its next frame is still refused."""
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    # A queryset update sends no signal, so no event reaches the socket: only the per-frame check can catch it.
    await sync_to_async(ApiKey.objects.filter(pk=bob_chat["api_key"].pk).update)(revoked_at=timezone.now())
    await socket.send_json_to({"type": "send", "content": "still there?"})
    await assert_revoked_and_closed(socket)
    assert fake_llm.requests == []
    assert await sync_to_async(Message.objects.count)() == 0


async def test_removing_the_member_closes_their_socket(bob_chat, acme, alice, bob, fake_llm) -> None:
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    membership = await sync_to_async(bob_membership)(acme, bob)
    await sync_to_async(tenancy_services.member_remove)(membership=membership, actor=alice)
    await assert_revoked_and_closed(socket)
    assert fake_llm.requests == []


async def test_demotion_to_viewer_closes_the_socket(bob_chat, acme, alice, bob) -> None:
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    membership = await sync_to_async(bob_membership)(acme, bob)
    await sync_to_async(tenancy_services.member_change_role)(membership=membership, actor=alice, role=Role.VIEWER)
    await assert_revoked_and_closed(socket)


async def test_a_role_change_that_keeps_chat_leaves_the_socket_open(bob_chat, acme, alice, bob) -> None:
    membership = await sync_to_async(bob_membership)(acme, bob)
    await sync_to_async(tenancy_services.member_change_role)(membership=membership, actor=alice, role=Role.ADMIN)
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    await sync_to_async(tenancy_services.member_change_role)(membership=membership, actor=alice, role=Role.MEMBER)
    assert await socket.receive_nothing(timeout=PROMPT_CLOSE)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from() == {"type": "pong"}
    await socket.disconnect()


async def test_deactivating_the_user_closes_their_socket(bob_chat, bob) -> None:
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    bob.is_active = False
    await sync_to_async(bob.save)()
    await assert_revoked_and_closed(socket)


async def test_taking_the_chat_scope_off_the_key_closes_its_socket(bob_chat) -> None:
    """As the admin's key form would: a plain save of the key row."""
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    api_key = bob_chat["api_key"]
    api_key.scopes = ["org:read"]
    await sync_to_async(api_key.save)()
    await assert_revoked_and_closed(socket)


async def test_a_key_that_expires_while_the_socket_is_open_closes_it_then(acme, bob) -> None:
    conversation = await sync_to_async(Conversation.objects.create)(org=acme, user=bob)
    _, secret = await sync_to_async(tenancy_services.api_key_create)(
        org=acme, actor=bob, name="short", scopes=["chat"], expires_at=timezone.now() + timedelta(seconds=0.5)
    )
    socket = await open_socket(f"/ws/orgs/acme/conversations/{conversation.pk}/", secret)
    await assert_revoked_and_closed(socket, timeout=2.0)


async def test_revoking_mid_answer_stops_it_and_stores_it_as_cancelled(bob_chat, bob, fake_llm) -> None:
    fake_llm.config.output_tokens = 200
    fake_llm.config.token_delay = 0.05  # 10 s in all: the revocation lands long before the end
    socket = await open_socket(bob_chat["path"], bob_chat["key"])
    await socket.send_json_to({"type": "send", "content": "Tell me everything"})
    assert (await socket.receive_json_from(timeout=5))["type"] == "ack"  # the first turn loads the tokeniser
    assert (await socket.receive_json_from(timeout=5))["type"] == "delta"
    await sync_to_async(tenancy_services.api_key_revoke)(api_key=bob_chat["api_key"], actor=bob)
    # Deltas already on their way may come first; the error frame waits until the cancelled answer
    # is stored, hence more time than PROMPT_CLOSE on a busy machine.
    while (frame := await socket.receive_json_from(timeout=5))["type"] == "delta":
        pass
    assert (frame["type"], frame["code"]) == ("error", "access_revoked")
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    answer = await sync_to_async(Message.objects.get)(role="assistant")
    assert answer.status == "cancelled"
    assert answer.content.startswith("w0 ")
    assert len(answer.content.split()) < 200


async def test_revoking_a_key_succeeds_and_is_logged_when_the_channel_layer_is_down(
    bob_chat, bob, settings, caplog
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    with caplog.at_level(logging.WARNING, logger="tenancy.access"):
        await sync_to_async(tenancy_services.api_key_revoke)(api_key=bob_chat["api_key"], actor=bob)
    revoked_at = await sync_to_async(lambda: ApiKey.objects.get(pk=bob_chat["api_key"].pk).revoked_at)()
    assert revoked_at is not None
    assert "could not announce api_key.changed" in caplog.text


async def test_sockets_of_other_keys_and_members_stay_open(bob_chat, chat, bob) -> None:
    """Alice's socket shares the organisation but not bob's key or membership."""
    alices = await open_socket(chat["path"], chat["key"])
    await sync_to_async(tenancy_services.api_key_revoke)(api_key=bob_chat["api_key"], actor=bob)
    assert await alices.receive_nothing(timeout=PROMPT_CLOSE)
    await alices.send_json_to({"type": "ping"})
    assert await alices.receive_json_from() == {"type": "pong"}
    await alices.disconnect()


async def test_with_the_channel_layer_down_a_handshake_is_closed_try_again_later(bob_chat, settings) -> None:
    """Without its groups a socket would miss revocations: refused with 4503, never the server's 1011."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    socket = await open_socket(bob_chat["path"], bob_chat["key"])  # accepted, so a browser can read the code
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}
    await socket.wait(timeout=5)
