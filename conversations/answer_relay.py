"""An answer in flight, published to Redis so that `resume` works on any web process.

Each answer streaming with Redis configured has a Redis stream `answer-deltas:<id>`: a `start`
entry, entries of deltas (`seq` of the first, `texts`), then an `end` entry carrying the `done`
frame when there is one. The stream loop never waits for Redis: a delta is appended to a list, and
one writer task per event loop sends what every answer gathered in ANSWER_STREAM_BATCH_SECONDS,
one entry per answer, in one pipeline (trimmed to about ANSWER_STREAM_MAXLEN entries); a slow
Redis makes entries larger, not tokens later. The stream expires ANSWER_STREAM_EXPIRY_SECONDS after its last
write, longer than STREAM_ABANDONED_SECONDS, so a follower of a stream whose process died still
finds it and can end the answer as `interrupted`. Without REDIS_URL nothing is published (one process: turns.LIVE is
enough), and a Redis failure only costs the cross-process catch-up: the stored answer is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
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


def enabled() -> bool:
    return bool(settings.REDIS_URL)


class Publisher:
    """One answer's stream: `frame` (a listener of the answer) gathers its deltas for the writer."""

    def __init__(self, message_id: str) -> None:
        self.key = KEY.format(message_id)
        self.started = False
        self.texts: list[str] = []
        self.first_seq = 1
        self.end: dict[str, str] | None = None
        self.expiry_set = -1e9  # monotonic time the stream's expiry was last renewed
        self.flushed = asyncio.Event()  # set once the end was written (or its write failed)
        _writer().mark(self)

    async def frame(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "delta":
            if not self.texts:
                self.first_seq = frame["seq"]
            self.texts.append(frame["text"])
        elif frame["type"] == "done":
            self._end(frame)
        _writer().mark(self)

    def close(self) -> None:
        """End the stream (without a `done` if none was sent: the follower reads the stored answer).

        Written with the next batch, in the background: an answer's caller never waits for Redis."""
        self._end(None)
        _writer().mark(self)

    def _end(self, done: dict[str, Any] | None) -> None:
        if self.end is None:
            self.end = {"end": "1", "done": json.dumps(done, default=str) if done else ""}

    def take(self) -> list[dict[str, str]]:
        """The entries gathered since the last batch (once the end is taken, nothing more)."""
        if self.flushed.is_set():
            return []
        batch = [] if self.started else [{"start": "1"}]
        self.started = True
        if self.texts:
            batch.append({"seq": str(self.first_seq), "texts": json.dumps(self.texts)})
            self.texts = []
        if self.end is not None:
            batch.append(self.end)
        return batch


class _Writer:
    """Every answer's gathered entries on one event loop, written together: one pipeline (one round
    trip) per ANSWER_STREAM_BATCH_SECONDS however many answers stream, and no task while none do."""

    def __init__(self) -> None:
        self.dirty: dict[str, Publisher] = {}
        self.task: asyncio.Task | None = None

    def mark(self, publisher: Publisher) -> None:
        self.dirty[publisher.key] = publisher
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self.dirty:
            await asyncio.sleep(settings.ANSWER_STREAM_BATCH_SECONDS)  # let more deltas gather
            publishers, self.dirty = list(self.dirty.values()), {}
            try:
                await self._send(publishers)
            finally:
                for publisher in publishers:
                    if publisher.end is not None:
                        publisher.flushed.set()

    async def _send(self, publishers: list[Publisher]) -> None:
        """The expiry of each stream is renewed at most once a second (it has a minute to spare)."""
        now = time.monotonic()
        try:
            pipeline = _clients.get().for_running_loop().client.pipeline(transaction=False)
            for publisher in publishers:
                entries = publisher.take()
                for fields in entries:
                    pipeline.xadd(publisher.key, fields, maxlen=settings.ANSWER_STREAM_MAXLEN, approximate=True)
                if entries and (now - publisher.expiry_set >= 1.0 or publisher.end is not None):
                    pipeline.expire(publisher.key, settings.ANSWER_STREAM_EXPIRY_SECONDS)
                    publisher.expiry_set = now
            if len(pipeline):
                await pipeline.execute()
        except REDIS_FAILURES as error:
            warn_throttled(logger=logger, throttle=_warnings, message="answer stream not published", error=error)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Writer] = weakref.WeakKeyDictionary()


def _writer() -> _Writer:
    loop = asyncio.get_running_loop()
    if (writer := _writers.get(loop)) is None:
        writer = _writers[loop] = _Writer()
    return writer


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
    if (done := await ended()) is not None:  # stored, its end entry not yet written: nothing to follow
        await send(done)
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
