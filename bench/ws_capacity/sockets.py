"""The bench's websockets (aiohttp's client, all on one event loop) and the check of every frame they got."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

HANDSHAKES_IN_FLIGHT = 50  # as clients reconnecting after a deploy would, not 1,000 at the same instant


@dataclass
class Socket:
    """One open socket on one conversation, and every frame it received with the time it came."""

    conversation: str
    ws: aiohttp.ClientWebSocketResponse | None = None
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    sent_at: float | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # a `done` or an `error` came
    streaming: asyncio.Event = field(default_factory=asyncio.Event)  # the first delta came
    reader: asyncio.Task | None = None
    close_code: int | None = None

    async def read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:  # aiohttp answers the server's pings while this loop runs
            if message.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(message.data)
                self.frames.append((time.perf_counter(), frame))
                if frame.get("type") == "delta":
                    self.streaming.set()
                if frame.get("type") in ("done", "error"):
                    self.finished.set()
        self.close_code = self.ws.close_code
        self.streaming.set()
        self.finished.set()

    async def send_turn(self, content: str) -> None:
        assert self.ws is not None
        self.frames.clear()
        self.finished.clear()
        self.streaming.clear()
        self.sent_at = time.perf_counter()
        await self.ws.send_json({"type": "send", "content": content})

    async def stop(self) -> None:
        assert self.ws is not None
        await self.ws.send_json({"type": "stop"})


async def open_sockets(
    session: aiohttp.ClientSession, base: str, org: str, secret: str, conversations: list[str]
) -> tuple[list[Socket], list[float], dict[str, int]]:
    """Open one authenticated socket per conversation; the open ones, handshake times (ms), failures by kind."""
    gate, handshakes, failures = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT), [], {}
    url = base.replace("http://", "ws://")
    headers = {"Authorization": f"Bearer {secret}"}

    async def one(conversation: str) -> Socket | None:
        socket = Socket(conversation)
        async with gate:
            started = time.perf_counter()
            try:
                socket.ws = await session.ws_connect(
                    f"{url}/ws/orgs/{org}/conversations/{conversation}/", headers=headers, autoping=True
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
                return None
            handshakes.append((time.perf_counter() - started) * 1000)
        socket.reader = asyncio.create_task(socket.read())
        return socket

    opened = await asyncio.gather(*(one(conversation) for conversation in conversations))
    await asyncio.sleep(1.0)  # a refused handshake is accepted, then closed with its code at once
    sockets = [socket for socket in opened if socket is not None]
    for socket in sockets:
        if socket.ws is not None and socket.ws.closed:
            failures[f"closed {socket.ws.close_code}"] = failures.get(f"closed {socket.ws.close_code}", 0) + 1
    return [s for s in sockets if s.ws is not None and not s.ws.closed], handshakes, failures


async def close_sockets(sockets: list[Socket]) -> None:
    await asyncio.gather(*(socket.ws.close() for socket in sockets if socket.ws is not None), return_exceptions=True)
    await asyncio.gather(*(socket.reader for socket in sockets if socket.reader is not None), return_exceptions=True)


@dataclass
class Verdict:
    """What one socket's turn delivered, against the answer the fake model sends."""

    acked: bool
    done: bool
    error: str | None
    deltas: int
    missing: int  # seq numbers skipped or never seen up to the highest one received
    out_of_order: int  # deltas whose seq is not the one after the previous delta's
    duplicates: int
    text_matches: bool  # the deltas' text is the fake model's answer and the stored answer in `done`
    ttft_ms: float | None
    first_delta_at: float | None
    done_at: float | None


def verify(socket: Socket, expected: str) -> Verdict:
    kinds = [frame.get("type") for _, frame in socket.frames]
    deltas = [(at, frame) for at, frame in socket.frames if frame.get("type") == "delta"]
    seqs = [frame["seq"] for _, frame in deltas]
    done = next((frame for _, frame in socket.frames if frame.get("type") == "done"), None)
    done_at = next((at for at, frame in socket.frames if frame.get("type") == "done"), None)
    error = next((frame.get("code") for _, frame in socket.frames if frame.get("type") == "error"), None)
    text = "".join(frame["text"] for _, frame in deltas)
    stored = (done or {}).get("message", {}).get("content")
    ack_first = bool(kinds) and kinds[0] == "ack" and kinds.count("ack") == 1
    first_at = deltas[0][0] if deltas else None
    return Verdict(
        acked=ack_first,
        done=done is not None and done["message"].get("status") == "complete",
        error=error if error is not None else None if done else f"closed {socket.close_code}",
        deltas=len(deltas),
        missing=(max(seqs) - len(set(seqs))) if seqs else 0,
        out_of_order=sum(1 for a, b in zip([0, *seqs], seqs, strict=False) if b != a + 1),
        duplicates=len(seqs) - len(set(seqs)),
        text_matches=text == expected and stored == expected,
        ttft_ms=(first_at - socket.sent_at) * 1000 if first_at is not None and socket.sent_at else None,
        first_delta_at=first_at,
        done_at=done_at,
    )


def peak_streaming(verdicts: list[Verdict]) -> int:
    """The most sockets between their first delta and their `done` at the same moment."""
    events = [(v.first_delta_at, 1) for v in verdicts if v.first_delta_at and v.done_at]
    events += [(v.done_at, -1) for v in verdicts if v.first_delta_at and v.done_at]
    peak = current = 0
    for _, step in sorted(events, key=lambda event: (event[0], event[1])):
        current += step
        peak = max(peak, current)
    return peak
