"""The arms of phase 1: one streamed answer each, timed to the first token and between chunks.

D, F, L, O and O' are the same `openai` client call against a different base URL; W is a
ChatPresets turn over the conversation websocket. Every arm sends the same prompt: the preset's
system prompt and the same user message (O, O' and W get the system prompt from the preset).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
import openai

from bench.side_by_side.processes import LITELLM_MASTER_KEY, Endpoints
from bench.side_by_side.seed import CONTENT, PRESET_SLUG, SYSTEM_PROMPT, Tenant

ANSWER_TIMEOUT_SECONDS = 30.0


class ArmFailed(RuntimeError):
    """An arm answered with anything but a streamed answer: its numbers would mean nothing."""


@dataclass
class Sample:
    ttft_ms: float
    gaps_ms: list[float]
    chunks: int


@dataclass
class Samples:
    ttft_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.ttft_ms.append(sample.ttft_ms)
        self.gaps_ms.extend(sample.gaps_ms)
        self.chunks.append(sample.chunks)


class Arm(Protocol):
    name: str

    async def once(self) -> Sample: ...

    async def close(self) -> None: ...


class Clock:
    """Milliseconds to the first chunk and between chunks, from one start."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.ttft_ms: float | None = None
        self.gaps_ms: list[float] = []

    def chunk(self) -> None:
        now = time.perf_counter()
        if self.ttft_ms is None:
            self.ttft_ms = (now - self.started) * 1000
        else:
            self.gaps_ms.append((now - self.last) * 1000)
        self.last = now

    def sample(self, what: str) -> Sample:
        if self.ttft_ms is None:
            raise ArmFailed(f"{what}: the answer had no content")
        return Sample(self.ttft_ms, self.gaps_ms, len(self.gaps_ms) + 1)


@dataclass
class OpenAIArm:
    """A streamed /v1/chat/completions call with the official client, read to the end."""

    name: str
    base_url: str
    api_key: str
    model: str
    messages: list[dict[str, str]]

    def __post_init__(self) -> None:
        self.client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, max_retries=0, timeout=ANSWER_TIMEOUT_SECONDS
        )

    async def once(self) -> Sample:
        clock = Clock()
        try:
            stream = await self.client.chat.completions.create(model=self.model, messages=self.messages, stream=True)
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    clock.chunk()
        except openai.APIError as error:
            raise ArmFailed(f"{self.name}: {error}") from error
        return clock.sample(self.name)

    async def close(self) -> None:
        await self.client.close()


@dataclass
class WebsocketArm:
    """A turn in a fresh conversation: from the `send` frame to the first `delta`, then to `done`."""

    name: str
    origin: str
    tenant: Tenant

    def __post_init__(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_SECONDS))

    async def once(self) -> Sample:
        path = f"/ws/orgs/{self.tenant.slug}/conversations/{self.tenant.next_conversation()}/"
        headers = {"Authorization": f"Bearer {self.tenant.secret}"}
        async with self.session.ws_connect(f"{self.origin.replace('http', 'ws', 1)}{path}", headers=headers) as ws:
            clock = Clock()  # the handshake is not the turn: the clock starts with the frame
            await ws.send_str(json.dumps({"type": "send", "content": CONTENT}))
            async for message in ws:
                frame = json.loads(message.data) if message.type == aiohttp.WSMsgType.TEXT else {"type": "closed"}
                if frame["type"] == "delta":
                    clock.chunk()
                elif frame["type"] == "done":
                    return clock.sample(self.name)
                elif frame["type"] not in ("ack", "message"):
                    raise ArmFailed(f"{self.name}: unexpected frame {frame}")
        raise ArmFailed(f"{self.name}: the socket closed before `done`")

    async def close(self) -> None:
        await self.session.close()


def build_arms(endpoints: Endpoints, guarded: Tenant, plain: Tenant) -> list[Arm]:
    """D, F, L, O, O' and W, in the order of the first round."""
    with_system = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": CONTENT}]
    user_only = [{"role": "user", "content": CONTENT}]
    preset = f"preset:{PRESET_SLUG}"
    return [
        OpenAIArm("D", f"{endpoints.model}/v1", "unused", "fake", with_system),
        OpenAIArm("F", f"{endpoints.passthrough}/v1", "unused", "fake", with_system),
        OpenAIArm("L", f"{endpoints.litellm}/v1", LITELLM_MASTER_KEY, "fake", with_system),
        OpenAIArm("O", f"{endpoints.guarded}/v1", guarded.secret, preset, user_only),
        OpenAIArm("O'", f"{endpoints.plain}/v1", plain.secret, preset, user_only),
        WebsocketArm("W", endpoints.guarded, guarded),
    ]


async def interleaved(arms: list[Arm], *, rounds: int, warmup: int) -> dict[str, Samples]:
    """Round-robin, one request at a time; the arm that goes first rotates, so drift falls on all."""
    samples = {arm.name: Samples() for arm in arms}
    for index in range(warmup + rounds):
        shift = index % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            sample = await arm.once()
            if index >= warmup:
                samples[arm.name].add(sample)
    return samples
