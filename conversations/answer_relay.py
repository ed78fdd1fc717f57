"""An answer in flight, published to Redis so that `resume` works on any web process.

Each answer streaming with Redis configured has a Redis stream `answer-deltas:<id>`: a `start`
entry, entries of deltas (`seq` of the first, `texts`), then an `end` entry carrying the `done`
frame when there is one. The stream loop never waits for Redis: a delta is appended to a list, and
one writer task per answer sends what gathered in ANSWER_STREAM_BATCH_SECONDS as one entry, in one
pipeline with its EXPIRE, trimmed to about ANSWER_STREAM_MAXLEN entries; a slow Redis makes
entries larger, not tokens later. The stream expires ANSWER_STREAM_EXPIRY_SECONDS after its last
write, longer than STREAM_ABANDONED_SECONDS, so a follower of a stream whose process died still
finds it and can end the answer as `interrupted`. Without REDIS_URL nothing is published (one process: turns.LIVE is
enough), and a Redis failure only costs the cross-process catch-up: the stored answer is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from tenancy.metering.clients import REDIS_FAILURES, LogThrottle, PerRedisUrl, RedisClients, warn_throttled

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
KEY = "answer-deltas:{}"
READ_BLOCK_MS = 1000  # a follower re-checks the stored answer after this long without an entry
_clients: PerRedisUrl[RedisClients] = PerRedisUrl(
    # The follower's blocking read needs a socket timeout beyond its block.
    lambda url: RedisClients(url=url, scripts={}, timeout_seconds=READ_BLOCK_MS / 1000 + 1.0, max_connections=200)
)
_warnings = LogThrottle()
_closing: set[asyncio.Task] = set()


def enabled() -> bool:
    return bool(settings.REDIS_URL)


class Publisher:
    """Writes one answer's frames to its Redis stream in batches; `frame` is a listener of the answer.

    One XADD per batch however fast the model writes; a follower is at most a batch behind."""

    def __init__(self, message_id: str) -> None:
        self.key = KEY.format(message_id)
        self.started = False
        self.texts: list[str] = []
        self.first_seq = 1
        self.end: dict[str, str] | None = None
        self.expiry_set = -1e9  # monotonic time the stream's expiry was last renewed
        self.wake = asyncio.Event()
        self.wake.set()
        self.writer = asyncio.create_task(self._write())

    @property
    def ended(self) -> bool:
        return self.end is not None

    async def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "delta":
            if not self.texts:
                self.first_seq = frame["seq"]
            self.texts.append(frame["text"])
        elif frame["type"] == "done":
            self._end(frame)
        self.wake.set()

    def close(self) -> None:
        """End the stream (without a `done` if none was sent: the follower reads the stored answer).

        The last batch is written in the background: an answer's caller never waits for Redis."""
        self._end(None)
        self.wake.set()
        _closing.add(self.writer)  # held until written, or the task could be collected unfinished
        self.writer.add_done_callback(_closing.discard)

    def _end(self, done: dict[str, Any] | None) -> None:
        if self.end is None:
            self.end = {"end": "1", "done": json.dumps(done, default=str) if done else ""}

    def _take(self) -> list[dict[str, str]]:
        batch = [] if self.started else [{"start": "1"}]
        self.started = True
        if self.texts:
            batch.append({"seq": str(self.first_seq), "texts": json.dumps(self.texts)})
            self.texts = []
        if self.end is not None:
            batch.append(self.end)
        return batch

    async def _write(self) -> None:
        while True:
            await self.wake.wait()
            if not self.ended:
                await asyncio.sleep(settings.ANSWER_STREAM_BATCH_SECONDS)  # let more deltas gather
            self.wake.clear()
            ending, batch = self.ended, self._take()
            if batch:
                await self._send(batch)
            if ending:
                return

    async def _send(self, batch: list[dict[str, str]]) -> None:
        """One round trip; the expiry is renewed at most once a second (it has a minute to spare)."""
        now = time.monotonic()
        renew = now - self.expiry_set >= 1.0 or "end" in batch[-1]
        try:
            client = _clients.get().for_running_loop().client
            if len(batch) == 1 and not renew:  # the common case, and a pipeline costs more
                await client.xadd(self.key, batch[0], maxlen=settings.ANSWER_STREAM_MAXLEN, approximate=True)
                return
            pipeline = client.pipeline(transaction=False)
            for fields in batch:
                pipeline.xadd(self.key, fields, maxlen=settings.ANSWER_STREAM_MAXLEN, approximate=True)
            pipeline.expire(self.key, settings.ANSWER_STREAM_EXPIRY_SECONDS)
            await pipeline.execute()
            self.expiry_set = now
        except REDIS_FAILURES as error:
            warn_throttled(logger=logger, throttle=_warnings, message="answer stream not published", error=error)


def publisher(message_id: str) -> Publisher | None:
    return Publisher(message_id) if enabled() else None


async def follow(
    *, message_id: str, after_seq: int, send: Send, ended: Callable[[], Awaitable[dict[str, Any] | None]]
) -> bool:
    """Send the deltas after `after_seq` of an answer streaming in any process, then follow it to its
    `done`; False if it has no stream (no Redis, or long finished). `ended()`, asked whenever the
    stream is silent, returns the stored answer's `done` frame once it has ended (its process gone)."""
    if not enabled():
        return False
    key, last_id = KEY.format(message_id), "0-0"
    try:
        client = _clients.get().for_running_loop().client
        entries = await client.xrange(key)
    except REDIS_FAILURES as error:
        warn_throttled(logger=logger, throttle=_warnings, message="answer stream not read", error=error)
        return False
    if not entries:
        return False
    first, last = _fields(entries[0][1]), _fields(entries[-1][1])
    if "end" in last or ("start" not in first and int(first["seq"]) > after_seq + 1):
        # Ended (the stored answer is the whole of it), or trimmed past what the caller has: the
        # deltas cannot be replayed in full, so the caller gets the stored answer once it ends.
        await send(await _stored(ended))
        return True
    try:
        while True:
            for entry_id, raw in entries:
                last_id = entry_id
                fields = _fields(raw)
                if "end" in fields:
                    await send(json.loads(fields["done"]) if fields["done"] else await _stored(ended))
                    return True
                for seq, text in enumerate(json.loads(fields.get("texts", "[]")), start=int(fields.get("seq", 0))):
                    if seq > after_seq:
                        await send({"type": "delta", "message_id": message_id, "seq": seq, "text": text})
            read = await client.xread({key: last_id}, block=READ_BLOCK_MS)
            entries = read[0][1] if read else []
            if not entries and (done := await ended()) is not None:
                await send(done)
                return True
    except REDIS_FAILURES as error:
        warn_throttled(logger=logger, throttle=_warnings, message="answer stream not followed", error=error)
        await send(await _stored(ended))  # Redis went away mid-answer: wait for it to be stored
        return True


def _fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in raw.items()}


async def _stored(ended: Callable[[], Awaitable[dict[str, Any] | None]]) -> dict[str, Any]:
    """The stored answer's `done`, once there is one (at an end entry it already is)."""
    while (done := await ended()) is None:
        await asyncio.sleep(READ_BLOCK_MS / 1000)
    return done
