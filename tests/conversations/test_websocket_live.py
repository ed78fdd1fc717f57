"""The websocket through a real daphne process on loopback, with an API key, against the fake model."""

from __future__ import annotations

import aiohttp
import pytest

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
