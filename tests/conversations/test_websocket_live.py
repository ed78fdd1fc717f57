"""The websocket through a real daphne process on loopback, with an API key, against the fake model."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from channels.db import database_sync_to_async as sync_to_async

from conversations.models import Conversation, Message
from tenancy import services as tenancy_services
from tenancy.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


async def test_send_and_stream_over_a_real_socket(live, fake_llm) -> None:
    fake_llm.config.output_tokens = 6
    url = live["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{live['conversation'].pk}/"
    headers = {"Authorization": f"Bearer {live['key']}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as socket:
        await socket.send_json({"type": "send", "content": "over the wire"})
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(await socket.receive_json(timeout=10))
    assert [f["type"] for f in frames] == ["ack"] + ["delta"] * 6 + ["done"]
    assert frames[-1]["message"]["content"] == "".join(f"w{i} " for i in range(6))


async def close_code_of_handshake(url: str, headers: dict[str, str], frame: dict | None = None) -> int | None:
    """Open the socket as a client would, optionally send one frame at once, and read the close code."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as socket:
        if frame is not None:
            await socket.send_json(frame)
        message = await socket.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE, message
        return socket.close_code


async def test_a_foreign_org_in_the_url_is_refused_with_close_code_4404(live) -> None:
    url = live["base"].replace("http://", "ws://") + f"/ws/orgs/globex/conversations/{live['conversation'].pk}/"
    assert await close_code_of_handshake(url, {"Authorization": f"Bearer {live['key']}"}) == 4404


async def test_another_orgs_conversation_is_refused_with_close_code_4404(live, carol, globex) -> None:
    _, carol_key = await sync_to_async(tenancy_services.api_key_create)(
        org=globex, actor=carol, name="carol", scopes=["chat"], expires_at=None
    )
    assert await close_code_of_handshake(socket_url(live), {"Authorization": f"Bearer {carol_key}"}) == 4404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cpk_000000000000_forged"}], ids=["none", "forged"])
async def test_missing_or_invalid_credentials_are_refused_with_close_code_4401(live, headers) -> None:
    assert await close_code_of_handshake(socket_url(live), headers) == 4401


async def test_a_frame_sent_on_a_refused_socket_is_not_processed(live, fake_llm, carol, globex) -> None:
    _, carol_key = await sync_to_async(tenancy_services.api_key_create)(
        org=globex, actor=carol, name="carol", scopes=["chat"], expires_at=None
    )
    frame = {"type": "send", "content": "let me in", "client_id": "refused"}
    code = await close_code_of_handshake(socket_url(live), {"Authorization": f"Bearer {carol_key}"}, frame)
    assert code == 4404
    assert not await sync_to_async(Message.objects.filter(client_id="refused").exists)()
    assert fake_llm.requests == []


def socket_url(live: dict) -> str:
    return live["base"].replace("http://", "ws://") + f"/ws/orgs/acme/conversations/{live['conversation'].pk}/"


async def test_revoking_the_key_over_http_closes_its_open_socket_within_a_second(live, fake_llm, acme, alice) -> None:
    chat_key = await sync_to_async(ApiKey.objects.get)(org=acme, name="sse")
    _, manager = await sync_to_async(tenancy_services.api_key_create)(
        org=acme, actor=alice, name="manager", scopes=["org:write"], expires_at=None
    )
    revoke = f"{live['base']}/api/v1/orgs/acme/api-keys/{chat_key.pk}/"
    headers = {"Authorization": f"Bearer {live['key']}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(socket_url(live), headers=headers) as socket:
        async with session.delete(revoke, headers={"Authorization": f"Bearer {manager}"}) as response:
            assert response.status == 200
        revoked_at = time.monotonic()
        frame = await socket.receive_json(timeout=1)
        closing = await socket.receive(timeout=1)
        elapsed = time.monotonic() - revoked_at
    assert (frame["type"], frame["code"]) == ("error", "access_revoked")
    assert (closing.type, socket.close_code) == (aiohttp.WSMsgType.CLOSE, 4403)
    assert elapsed < 1.0
    assert fake_llm.requests == []
    assert "Traceback" not in live["log"].read_text()


IDLE_SECONDS = 25  # past the 12-20 s after which idle sockets used to be closed with 1011


async def test_an_idle_socket_stays_open_is_pinged_and_logs_no_traceback(live) -> None:
    """Idle past the old failure time, through the Redis channel layer; the server pings it meanwhile."""
    headers = {"Authorization": f"Bearer {live['key']}"}
    seen = []  # (message type, seconds after opening, close code) of everything the idle socket hears
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(socket_url(live), headers=headers, autoping=False) as socket,
    ):
        opened = time.monotonic()
        while (left := opened + IDLE_SECONDS - time.monotonic()) > 0:
            try:
                message = await socket.receive(timeout=left)
            except TimeoutError:
                break
            seen.append((message.type.name, round(time.monotonic() - opened, 1), socket.close_code))
            if message.type != aiohttp.WSMsgType.PING:
                break  # anything else while idle is the bug: a close, an error
            await socket.pong(message.data)
        kinds = {kind for kind, _, _ in seen}
        assert kinds == {"PING"}, (seen, live["log"].read_text()[-3000:])  # pinged, and nothing else
        await socket.send_json({"type": "ping"})
        assert await socket.receive_json(timeout=5) == {"type": "pong"}
    log = live["log"].read_text()
    assert "Traceback" not in log, log[-3000:]


def answer_and_title(conversation_id: str) -> tuple[str | None, str]:
    """The last answer's status and the conversation's title (written after the answer, inline in tests)."""
    status = Message.objects.filter(role="assistant").order_by("seq").values_list("status", flat=True).last()
    return status, Conversation.objects.get(pk=conversation_id).title


async def test_clients_that_drop_mid_answer_or_close_cleanly_leave_no_traceback_in_the_log(live, fake_llm) -> None:
    fake_llm.config.output_tokens = 40
    fake_llm.config.token_delay = 0.02
    headers = {"Authorization": f"Bearer {live['key']}"}
    async with aiohttp.ClientSession() as session:
        socket = await session.ws_connect(socket_url(live), headers=headers)
        await socket.send_json({"type": "send", "content": "a long answer, please"})
        assert (await socket.receive_json(timeout=10))["type"] == "ack"
        assert (await socket.receive_json(timeout=10))["type"] == "delta"
        socket._response.connection.transport.abort()  # gone without a close frame, mid-answer
        async with session.ws_connect(socket_url(live), headers=headers) as clean:
            await clean.send_json({"type": "ping"})
            assert await clean.receive_json(timeout=5) == {"type": "pong"}
    # The answer carries on without its socket and is stored; wait for the title too, so the
    # server is not stopped in the middle of that model call.
    deadline, stored = time.monotonic() + 10, (None, "")
    while not (stored[0] == "complete" and stored[1]) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stored = await sync_to_async(answer_and_title)(live["conversation"].pk)
    assert stored[0] == "complete"
    log = live["log"].read_text()
    assert "Traceback" not in log, log[-3000:]
