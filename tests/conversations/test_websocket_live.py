"""The websocket through a real daphne process on loopback, with an API key, against the fake model."""

from __future__ import annotations

import time

import aiohttp
import pytest
from channels.db import database_sync_to_async as sync_to_async

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


async def test_a_foreign_key_is_refused_at_the_handshake(live) -> None:
    url = live["base"].replace("http://", "ws://") + f"/ws/orgs/globex/conversations/{live['conversation'].pk}/"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url, headers={"Authorization": f"Bearer {live['key']}"})


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
