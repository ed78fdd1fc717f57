"""Requests as the topology bench sends them: one at a time, or open-loop at a fixed rate.

Every request's outcome is kept: an answer's time to first token, a refusal's (503) time to its
status line, any other failure by kind. A request leaves at its scheduled time whether or not
earlier ones have answered, so an overloaded topology meets a growing queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.side_by_side.openloop import Target

DRAIN_SECONDS = 30.0  # a request still open this long after its step counts as a client timeout
WARMUP_PAIRS = 10  # a fresh process's first requests fill its caches and pools


@dataclass
class Step:
    rate: float
    seconds: float
    sent: int = 0
    ttft_ms: list[float] = field(default_factory=list)  # answered requests
    refusal_ms: list[float] = field(default_factory=list)  # 503s: time to the status line
    refusal_codes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # anything else, by kind
    elapsed: float = 0.0  # seconds from the first request sent to the last outcome


def since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def error_code(body: bytes) -> str:
    """The JSON error's code and its reason when it gives one (`overloaded/admission_limit`), or `?`."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "?"
    if not isinstance(error, dict):
        return "?"
    reason = (error.get("details") or {}).get("reason")
    return f"{error.get('code', '?')}/{reason}" if reason else str(error.get("code", "?"))


async def first_content(response: aiohttp.ClientResponse, started: float) -> float | None:
    """Milliseconds to the first chunk with content; the stream is read to its end."""
    first = None
    async for line in response.content:
        if first is None and line.startswith(b"data: {"):
            choices = json.loads(line[6:]).get("choices") or [{}]
            if (choices[0].get("delta") or {}).get("content"):
                first = since(started)
    return first


async def send(session: aiohttp.ClientSession, target: Target, step: Step) -> None:
    """One request, its outcome recorded in `step`."""
    started = time.perf_counter()
    try:
        async with session.post(target.url, data=target.body, headers=target.headers) as response:
            if response.status == 503:
                step.refusal_ms.append(since(started))
                step.refusal_codes[error_code(await response.read())] += 1
            elif response.status != 200:
                step.errors[f"{response.status} {error_code(await response.read())}"] += 1
            elif (ttft := await first_content(response, started)) is None:
                step.errors["200 without content"] += 1
            else:
                step.ttft_ms.append(ttft)
    except (TimeoutError, aiohttp.ClientError) as error:
        step.errors[type(error).__name__] += 1


async def open_loop(targets: Sequence[Target], rate: float, seconds: float) -> Step:
    """`rate` requests a second for `seconds`, each target (a caller) in turn."""
    step = Step(rate, seconds)
    timeout = aiohttp.ClientTimeout(total=seconds + DRAIN_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started, tasks = time.perf_counter(), []
        for n in range(round(rate * seconds)):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(session, targets[n % len(targets)], step)))
        step.sent = len(tasks)
        await asyncio.gather(*tasks)
        step.elapsed = time.perf_counter() - started
    return step


async def sequential(direct: Target, routed: Target, pairs: int) -> tuple[Step, Step]:
    """Concurrency 1, interleaved: the fake model alone, then through nginx, `pairs` times (after a warm-up)."""
    timeout = aiohttp.ClientTimeout(total=DRAIN_SECONDS)
    alone, through = Step(0, 0), Step(0, 0)
    async with aiohttp.ClientSession(timeout=timeout) as a, aiohttp.ClientSession(timeout=timeout) as b:
        for _ in range(WARMUP_PAIRS):
            await send(a, direct, Step(0, 0))
            await send(b, routed, Step(0, 0))
        for _ in range(pairs):
            await send(a, direct, alone)
            await send(b, routed, through)
    alone.sent = through.sent = pairs
    return alone, through
