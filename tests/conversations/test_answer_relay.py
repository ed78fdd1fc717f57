"""An answer's Redis stream (conversations/answer_relay.py): what a follower in another process gets."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from django.test import override_settings

from conversations import answer_relay

BATCH_WRITTEN = 0.2  # seconds: past ANSWER_STREAM_BATCH_SECONDS and the write
STORED = {"type": "done", "message": {"content": "stored"}}


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def __call__(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)


def delta(answer_id: str, seq: int) -> dict[str, Any]:
    return {"type": "delta", "message_id": answer_id, "seq": seq, "text": f"w{seq} "}


async def never_ended() -> None:
    return None


async def stored() -> dict[str, Any]:
    return STORED


async def test_a_follower_gets_the_deltas_after_its_seq_then_the_live_ones_once_and_in_order() -> None:
    answer_id = str(uuid.uuid4())
    publisher = answer_relay.Publisher(answer_id)
    for seq in range(1, 6):
        await publisher.frame(delta(answer_id, seq))
    await asyncio.sleep(BATCH_WRITTEN)
    follower = Recorder()
    following = asyncio.create_task(
        answer_relay.follow(message_id=answer_id, after_seq=2, send=follower, ended=never_ended)
    )
    await asyncio.sleep(BATCH_WRITTEN)
    for seq in range(6, 9):
        await publisher.frame(delta(answer_id, seq))
    await publisher.frame({"type": "done", "message": {"content": "live"}})
    publisher.close()
    await publisher.flushed.wait()
    assert await asyncio.wait_for(following, timeout=5) is True
    assert [frame.get("seq") for frame in follower.frames] == [3, 4, 5, 6, 7, 8, None]
    assert follower.frames[-1] == {"type": "done", "message": {"content": "live"}}


async def test_an_ended_stream_gives_the_stored_answer_without_replaying_deltas() -> None:
    answer_id = str(uuid.uuid4())
    publisher = answer_relay.Publisher(answer_id)
    await publisher.frame(delta(answer_id, 1))
    publisher.close()
    await publisher.flushed.wait()
    follower = Recorder()
    assert await answer_relay.follow(message_id=answer_id, after_seq=0, send=follower, ended=stored) is True
    assert follower.frames == [STORED]


async def test_a_silent_stream_ends_with_the_stored_answer_once_it_has_ended() -> None:
    answer_id = str(uuid.uuid4())
    publisher = answer_relay.Publisher(answer_id)
    await publisher.frame(delta(answer_id, 1))
    await asyncio.sleep(BATCH_WRITTEN)
    # Its process dies: no end entry will come.
    asks = []

    async def ended_on_second_ask() -> dict[str, Any] | None:
        asks.append(1)
        return STORED if len(asks) > 1 else None

    follower = Recorder()
    assert await answer_relay.follow(message_id=answer_id, after_seq=0, send=follower, ended=ended_on_second_ask)
    assert [frame["type"] for frame in follower.frames] == ["delta", "done"]
    assert follower.frames[-1] == STORED


async def test_a_stream_trimmed_past_the_callers_seq_gives_the_stored_answer() -> None:
    answer_id = str(uuid.uuid4())
    key = answer_relay.KEY.format(answer_id)
    pipeline = answer_relay._clients.get().for_running_loop().client.pipeline(transaction=False)
    for seq in range(1, 400):  # XADD's approximate trimming removes whole nodes (100 entries)
        pipeline.xadd(key, {"seq": str(seq), "texts": json.dumps([f"w{seq} "])}, maxlen=3, approximate=True)
    pipeline.expire(key, 60)
    await pipeline.execute()
    follower = Recorder()
    assert await answer_relay.follow(message_id=answer_id, after_seq=1, send=follower, ended=stored) is True
    assert follower.frames == [STORED]


async def test_answers_streaming_together_are_written_in_one_round_trip(monkeypatch) -> None:
    rounds = []
    send = answer_relay._Writer._send

    async def counted(writer: answer_relay._Writer, publishers: list) -> None:
        rounds.append(len(publishers))
        await send(writer, publishers)

    monkeypatch.setattr(answer_relay._Writer, "_send", counted)
    answers = [str(uuid.uuid4()) for _ in range(20)]
    publishers = [answer_relay.Publisher(answer_id) for answer_id in answers]
    for seq in range(1, 11):
        for answer_id, publisher in zip(answers, publishers, strict=True):
            await publisher.frame(delta(answer_id, seq))
    for publisher in publishers:
        publisher.close()
    await asyncio.gather(*(publisher.flushed.wait() for publisher in publishers))
    assert rounds == [20]


async def test_deltas_arriving_together_are_one_entry() -> None:
    answer_id = str(uuid.uuid4())
    publisher = answer_relay.Publisher(answer_id)
    for seq in range(1, 51):
        await publisher.frame(delta(answer_id, seq))
    publisher.close()
    await publisher.flushed.wait()
    entries = await answer_relay._clients.get().for_running_loop().client.xrange(answer_relay.KEY.format(answer_id))
    assert len(entries) == 3  # start, the fifty deltas, end


async def test_an_unknown_answer_has_no_stream() -> None:
    follower = Recorder()
    assert not await answer_relay.follow(message_id=str(uuid.uuid4()), after_seq=0, send=follower, ended=stored)
    assert follower.frames == []


async def test_without_redis_nothing_is_published_or_followed() -> None:
    with override_settings(REDIS_URL=""):
        assert answer_relay.publisher(str(uuid.uuid4())) is None
        assert not await answer_relay.follow(message_id="x", after_seq=0, send=Recorder(), ended=stored)
