"""Phase 2: open-loop arrivals on a fixed schedule, and the fake model's own ceiling.

A request leaves at its scheduled time whether or not earlier ones have answered, so a slow arm
meets a growing queue instead of a politely waiting client. A plain aiohttp client (not the
`openai` one) keeps the load generator light; it reads each stream to its end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bench.side_by_side.stats import percentile

DRAIN_SECONDS = 30.0  # a request still open this long after its step counts as a client timeout
CEILING_WORKERS = 32


@dataclass(frozen=True)
class Target:
    name: str
    url: str  # …/v1/chat/completions
    headers: dict[str, str]
    body: bytes


@dataclass
class Step:
    arm: str
    rate: int
    sent: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.ttft_ms, fraction)


async def stream_ttft(session: aiohttp.ClientSession, target: Target) -> float:
    """Milliseconds to the first chunk with content; the stream is read to its end."""
    started, first = time.perf_counter(), None
    async with session.post(target.url, data=target.body, headers=target.headers) as response:
        if response.status != 200:
            await response.read()
            raise RuntimeError(f"status {response.status}")
        async for line in response.content:
            if first is None and line.startswith(b"data: {"):
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError("no content")
    return first


async def run_step(target: Target, rate: int, seconds: float) -> Step:
    step = Step(target.name, rate)

    async def one(session: aiohttp.ClientSession) -> None:
        try:
            step.ttft_ms.append(await stream_ttft(session, target))
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as error:
            step.errors[str(error) if isinstance(error, RuntimeError) else type(error).__name__] += 1

    timeout = aiohttp.ClientTimeout(total=seconds + DRAIN_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started, tasks = time.perf_counter(), []
        for n in range(int(rate * seconds)):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session)))
        step.sent = len(tasks)
        await asyncio.gather(*tasks)
        step.elapsed = time.perf_counter() - started
    return step


async def ceiling(target: Target, seconds: float) -> float:
    """Answers per second the target serves to CEILING_WORKERS clients that each wait for their answer."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await stream_ttft(session, target)
            done += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CEILING_WORKERS)))
        return done / (time.perf_counter() - started)


async def at_rest(target: Target, requests: int) -> list[float]:
    """Times to first token one request at a time: the baseline phase 2 subtracts, taken with its client."""
    async with aiohttp.ClientSession() as session:
        return [await stream_ttft(session, target) for _ in range(requests)]


def passes(step: Step, baseline_ms: float, threshold_ms: float) -> bool:
    return not step.errors and step.p(0.99) - baseline_ms <= threshold_ms


async def stepped(
    targets: list[Target], rates: tuple[int, ...], seconds: float, baseline_ms: float, threshold_ms: float
) -> list[Step]:
    """Each rate in turn, each arm alone (the arm that goes first rotates); an arm that fails a rate
    (p99 added past the threshold, or any error) is not offered the higher ones."""
    steps: list[Step] = []
    live = list(targets)
    for index, rate in enumerate(rates):
        shift = index % len(live)
        passed = []
        for target in live[shift:] + live[:shift]:
            step = await run_step(target, rate, seconds)
            steps.append(step)
            if passes(step, baseline_ms, threshold_ms):
                passed.append(target)
            await asyncio.sleep(1.0)  # the previous arm's last answers settle before the next arm starts
        live = [target for target in live if target in passed]  # keeps the arms' order
        if not live:
            break
    return steps


def sustainable(steps: list[Step], arm: str, baseline_ms: float, threshold_ms: float) -> int:
    """The highest offered rate the arm passed, every lower one passed too (0: none)."""
    best = 0
    for step in sorted((s for s in steps if s.arm == arm), key=lambda s: s.rate):
        if not passes(step, baseline_ms, threshold_ms):
            break
        best = step.rate
    return best
