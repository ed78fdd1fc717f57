"""An OpenAI-compatible chat server for tests and benchmarks, served over real HTTP (aiohttp).

It streams a deterministic reply with a configurable time to first token, inter-token delay
and length, records every request body, and injects faults on demand: `429`, `500`,
`timeout` (never answers), `slow_first_token` (waits past any sane TTFT budget) and
`disconnect` (drops the connection after two tokens). Faults are consumed one per request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

FAULTS = {"429", "500", "timeout", "slow_first_token", "disconnect"}


@dataclass
class FakeConfig:
    ttft: float = 0.0
    token_delay: float = 0.0
    output_tokens: int = 12
    reply: str | None = None
    cached_tokens: int = 0  # reported as usage.prompt_tokens_details.cached_tokens
    models: list[str] = field(default_factory=lambda: ["fake", "fake-cheap", "fake-backup"])


class FakeLLM:
    """The server's state: configuration, queued faults and the recorded request bodies."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def inject(self, *faults: str) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise ValueError(f"unknown fault(s): {sorted(unknown)}")
        with self.lock:
            self.faults.extend(faults)

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None

    def reply_tokens(self, body: dict[str, Any]) -> list[str]:
        if self.config.reply is not None:
            words = self.config.reply.split(" ")
            return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]
        limit = min(self.config.output_tokens, int(body.get("max_tokens") or self.config.output_tokens))
        return [f"w{i} " for i in range(limit)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/_control/faults", self.control_faults)
        app.router.add_post("/_control/config", self.control_config)
        app.router.add_get("/_control/requests", self.control_requests)
        app.router.add_delete("/_control/requests", self.control_clear)
        return app

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": name, "object": "model", "owned_by": "fake"} for name in self.config.models]
        return web.json_response({"object": "list", "data": data})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self.lock:
            self.requests.append(body)
        fault = self.next_fault()
        if fault == "429":
            return _error(429, "rate_limit_exceeded", headers={"Retry-After": "0"})
        if fault == "500":
            return _error(500, "server_error")
        if fault == "timeout":
            await asyncio.sleep(3600)
        if fault == "slow_first_token":
            await asyncio.sleep(max(self.config.ttft, 30.0))
        tokens = self.reply_tokens(body)
        if not body.get("stream"):
            await asyncio.sleep(self.config.ttft + self.config.token_delay * len(tokens))
            return web.json_response(_completion(body, "".join(tokens), len(tokens)))
        return await self.stream(request, body, tokens, disconnect=fault == "disconnect")

    async def stream(
        self, request: web.Request, body: dict[str, Any], tokens: list[str], *, disconnect: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        chunk_id, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", body.get("model", "fake")
        await asyncio.sleep(self.config.ttft)
        for index, token in enumerate(tokens):
            if index and self.config.token_delay:
                await asyncio.sleep(self.config.token_delay)
            delta = {"role": "assistant", "content": token} if index == 0 else {"content": token}
            await response.write(_sse(_chunk(chunk_id, model, delta)))
            if disconnect and index == 1:
                request.transport.close()
                return response
        finish = "length" if body.get("max_tokens") and len(tokens) >= body["max_tokens"] else "stop"
        await response.write(_sse(_chunk(chunk_id, model, {}, finish)))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": 0,
                "completion_tokens": len(tokens),
                "total_tokens": len(tokens),
                "prompt_tokens_details": {"cached_tokens": self.config.cached_tokens},
            }
            await response.write(_sse({**_chunk(chunk_id, model, {}, None), "choices": [], "usage": usage}))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def control_faults(self, request: web.Request) -> web.Response:
        try:
            self.inject(*(await request.json()).get("faults", []))
        except ValueError as error:
            return _error(400, str(error))
        return web.json_response({"queued": list(self.faults)})

    async def control_config(self, request: web.Request) -> web.Response:
        for key, value in (await request.json()).items():
            if hasattr(self.config, key):
                setattr(self.config, key, value)
        return web.json_response(asdict(self.config))

    async def control_requests(self, request: web.Request) -> web.Response:
        with self.lock:
            return web.json_response(list(self.requests))

    async def control_clear(self, request: web.Request) -> web.Response:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
        return web.json_response({"cleared": True})


def _chunk(chunk_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any], text: str, count: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": count, "total_tokens": count},
    }


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": f"fake {code}", "type": code, "code": code}}
    return web.json_response(body, status=status, headers=headers)


class FakeLLMServer:
    """Runs a FakeLLM on a loopback port in a background thread (for tests and benchmarks)."""

    def __init__(self, config: FakeConfig | None = None, port: int = 0) -> None:
        self.llm = FakeLLM(config)
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-llm")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake LLM server did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.llm.app(), access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())


def main() -> None:
    """Serve the fake model in the foreground (bin/cluster with CLUSTER_MODEL=fake, benchmarks)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ttft", type=float, default=0.0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--output-tokens", type=int, default=12)
    args = parser.parse_args()
    config = FakeConfig(ttft=args.ttft, token_delay=args.token_delay, output_tokens=args.output_tokens)
    web.run_app(FakeLLM(config).app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
