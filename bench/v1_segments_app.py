"""The service's ASGI application with a timestamp at each segment of a `/v1` streamed completion.

Served by daphne for `bench/v1_segments.py`, never in production. Each mark is `time.perf_counter()`
(CLOCK_MONOTONIC, the same clock in every process of the machine), so the load generator's send and
first-token times line up with the server's marks. The marks go to the file named by
`V1_SEGMENTS_LOG` when the process exits.
"""

from __future__ import annotations

import atexit
import os
import time
from typing import Any

import httpx2

from chatpresets.asgi import application
from chatpresets.llm import gateway
from chatpresets.observability import timing
from conversations.api import completions_route, openai_compat

__all__ = ["application"]

MARKS: list[tuple[str, float]] = []


def mark(name: str) -> None:
    MARKS.append((name, time.perf_counter()))


def _write() -> None:
    with open(os.environ["V1_SEGMENTS_LOG"], "w") as log:
        log.writelines(f"{name} {moment:.6f}\n" for name, moment in MARKS)


def _is_first_content(message: dict[str, Any]) -> bool:
    body = message.get("body", b"")
    return b'"content": "' in body and b'"content": ""' not in body


def instrument() -> None:
    route_call = completions_route.CompletionsRoute.__call__

    async def routed(self: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await route_call(self, scope, receive, send)
        mark("route")
        marked = {"content": False}

        async def marking_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                mark("headers_sent")
            elif not marked["content"] and _is_first_content(message):
                marked["content"] = True
                mark("content_sent")
            await send(message)

        return await route_call(self, scope, receive, marking_send)

    completions_route.CompletionsRoute.__call__ = routed
    caller_and_call = openai_compat._caller_and_call

    def timed_hop(*args: Any, **kwargs: Any) -> Any:
        mark("hop_in")
        try:
            return caller_and_call(*args, **kwargs)
        finally:
            mark("hop_out")

    openai_compat._caller_and_call = timed_hop
    open_stream = gateway._open_stream

    async def timed_open(*args: Any, **kwargs: Any) -> Any:
        mark("sdk_in")
        try:
            return await open_stream(*args, **kwargs)
        finally:
            mark("stream_open")

    gateway._open_stream = timed_open
    transport = httpx2.AsyncHTTPTransport.handle_async_request

    async def timed_transport(self: Any, request: Any) -> Any:
        mark("transport_in")
        try:
            return await transport(self, request)
        finally:
            mark("response_headers")

    httpx2.AsyncHTTPTransport.handle_async_request = timed_transport
    first_token = timing.first_token

    def timed_first_token() -> None:
        mark("first_token")
        first_token()

    timing.first_token = timed_first_token
    atexit.register(_write)


instrument()
