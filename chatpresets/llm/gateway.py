"""The model gateway: the only module that imports openai.

One AsyncOpenAI client per endpoint per event loop; on the web server's loop it reads over the
SDK's aiohttp transport (`keep_clients_on_this_loop`), elsewhere over its default one. A call
streams with a time-to-first-token budget and an overall deadline. Before the first token,
connection errors, timeouts, 429 and 5xx are retried with exponential backoff and full jitter,
then the next model of the fallback chain is tried; a circuit breaker per endpoint skips endpoints
that keep failing. After the first token nothing is retried: the partial text is kept and the
result says `interrupted`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
from django.conf import settings

from chatpresets.env import env_secret
from chatpresets.errors import DomainError
from chatpresets.llm.catalogue import ModelSpec, get_model
from chatpresets.observability import metrics, timing

Delta = Callable[[str], Awaitable[None]]
PARAM_NAMES = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "stop")


class ModelUnavailable(DomainError):
    code = "model_unavailable"
    status_code = 503
    message = "The model is not answering right now; nothing was lost, try again shortly."


class UpstreamRejected(DomainError):
    code = "upstream_rejected"
    status_code = 502
    message = "The model provider refused the request."


class UpstreamInterrupted(DomainError):
    """The model stopped mid-answer (after its first token, so no retry): the text is incomplete."""

    code = "upstream_interrupted"
    status_code = 502
    message = "The model stopped answering part-way; the answer is incomplete."


class _Retryable(Exception):
    """Failed before the first token: safe to retry or fall back. `kind` is the metrics label."""

    def __init__(self, description: str, kind: str) -> None:
        super().__init__(description)
        self.kind = kind


# The upstream error kinds metrics count (chatpresets_upstream_errors_total{kind}): a bounded set.
ERROR_KINDS = {
    TimeoutError: "timeout",
    openai.APITimeoutError: "timeout",
    openai.APIConnectionError: "connection",
    openai.RateLimitError: "rate_limited",
    openai.InternalServerError: "server_error",
}


def _retryable(error: BaseException) -> _Retryable:
    if _refused(error):
        return _Retryable(openai.APIConnectionError.__name__, "connection")
    kind = next((name for cls, name in ERROR_KINDS.items() if isinstance(error, cls)), "other")
    return _Retryable(_describe(error), kind)


def _refused(error: BaseException) -> bool:
    """A connection the model's host refused or could not route: the SDK's aiohttp transport reports it
    as a connect timeout, which would send an operator looking for a slow model rather than a down one."""
    cause = error.__cause__
    for _ in range(4):  # the SDK's error, httpx's, aiohttp's: never a long chain
        if cause is None or isinstance(cause, aiohttp.ClientConnectorError):
            break
        cause = cause.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError)


@dataclass
class StreamResult:
    model: str
    text: str = ""
    status: str = "complete"  # complete | interrupted
    finish_reason: str = ""
    error_code: str = ""
    chunks: int = 0
    cached_tokens: int = 0  # prompt tokens the provider reports it served from its cache
    ttft_ms: int | None = None
    total_ms: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CircuitBreaker:
    threshold: int
    cooldown: float
    failures: int = 0
    opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return time.monotonic() - self.opened_at >= self.cooldown  # half-open: let one probe through

    def record_success(self) -> None:
        self.failures, self.opened_at = 0, None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()


_clients: dict[tuple[int, str, str], openai.AsyncOpenAI] = {}
_breakers: dict[str, CircuitBreaker] = {}


def client_for(spec: ModelSpec) -> openai.AsyncOpenAI:
    api_key = (env_secret(spec.api_key_env, "") or "") if spec.api_key_env else ""
    key = (id(asyncio.get_running_loop()), spec.base_url, api_key)
    if key not in _clients:
        # The SDK's aiohttp transport reads a stream for about 1.5 ms less CPU than its default one (h11 and
        # anyio in Python) over twenty chunks; its session belongs to its loop, so only a loop that lives as
        # long as the process gets one: a loop of one call (a Celery task's) keeps the default.
        pooled = {"http_client": openai.DefaultAioHttpClient()} if key[0] in _server_loops else {}
        _clients[key] = openai.AsyncOpenAI(base_url=spec.base_url, api_key=api_key or "unused", max_retries=0, **pooled)
    return _clients[key]


_server_loops: set[int] = set()


def keep_clients_on_this_loop() -> None:
    """The running loop serves for the life of the process (the web server's): its model clients read
    their streams over aiohttp, until `close_clients`."""
    _server_loops.add(id(asyncio.get_running_loop()))


async def close_clients() -> None:
    """Close the running loop's model clients and their connections (a server stopping, a test's end)."""
    loop = id(asyncio.get_running_loop())
    for key in [key for key in _clients if key[0] == loop]:
        await _clients.pop(key).close()
    _server_loops.discard(loop)


def breaker_for(spec: ModelSpec) -> CircuitBreaker:
    if spec.base_url not in _breakers:
        _breakers[spec.base_url] = CircuitBreaker(
            threshold=settings.GATEWAY_BREAKER_THRESHOLD, cooldown=settings.GATEWAY_BREAKER_COOLDOWN_SECONDS
        )
    return _breakers[spec.base_url]


def request_params(spec: ModelSpec, params: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    chosen = {name: params[name] for name in PARAM_NAMES if params.get(name) is not None}
    return {**chosen, "max_tokens": min(max_tokens, spec.max_output)}


async def stream_chat(
    *,
    model: str,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    max_tokens: int,
    on_delta: Delta,
    fallbacks: Sequence[str] | None = None,
) -> StreamResult:
    """Stream one answer, following the fallback chain (the model's own, or `fallbacks` when given,
    as narrowed by the organisation and the preset); raises ModelUnavailable if no model answers."""
    first = get_model(model)
    attempts: list[dict[str, Any]] = []
    began, first_delta_at = time.monotonic(), None

    async def timed_delta(text: str) -> None:
        nonlocal first_delta_at
        first_delta_at = first_delta_at or time.monotonic()
        await on_delta(text)

    for position, spec in enumerate([first, *map(get_model, first.fallbacks if fallbacks is None else fallbacks)]):
        if position:  # moved past the previous model of the chain
            metrics.UPSTREAM_FALLBACKS.labels(attempts[-1]["model"] if attempts else first.name).inc()
        breaker = breaker_for(spec)
        if not breaker.allow():
            attempts.append({"model": spec.name, "error": "circuit_open"})
            continue
        result = await _with_retries(
            spec, breaker, messages, request_params(spec, params, max_tokens), timed_delta, attempts
        )
        if result is not None:
            # Times as the caller saw them: failed attempts and backoff before the answer count too.
            if first_delta_at is not None:
                result.ttft_ms = int((first_delta_at - began) * 1000)
            result.total_ms = int((time.monotonic() - began) * 1000)
            result.attempts = attempts
            return result
    raise ModelUnavailable(details={"attempts": attempts})


async def _with_retries(
    spec: ModelSpec,
    breaker: CircuitBreaker,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    on_delta: Delta,
    attempts: list[dict[str, Any]],
) -> StreamResult | None:
    endpoint = endpoint_name(spec)
    requests = metrics.UPSTREAM_REQUESTS.labels(endpoint)
    for attempt in range(settings.GATEWAY_RETRIES + 1):
        requests.inc()  # every attempt, so errors / requests is the endpoint's error ratio
        try:
            result = await _stream_once(spec, messages, params, on_delta)
        except _Retryable as error:
            _record_failure(breaker, endpoint, error.kind)
            attempts.append({"model": spec.name, "attempt": attempt + 1, "error": str(error)})
            if attempt < settings.GATEWAY_RETRIES and breaker.allow():
                metrics.UPSTREAM_RETRIES.labels(endpoint).inc()
                await asyncio.sleep(random.uniform(0, settings.GATEWAY_BACKOFF_SECONDS * 2**attempt))  # noqa: S311
                continue
            return None
        except UpstreamRejected:
            metrics.UPSTREAM_ERRORS.labels(endpoint, "rejected").inc()
            raise
        if breaker.opened_at is not None or breaker.failures:
            metrics.CIRCUIT_OPEN.labels(endpoint).set(0)
        breaker.record_success()
        if result.status == "interrupted":
            metrics.UPSTREAM_ERRORS.labels(endpoint, "interrupted").inc()
        return result
    return None


def endpoint_name(spec: ModelSpec) -> str:
    """The endpoint as metrics name it: the catalogue model that owns the breaker's base URL (bounded)."""
    return _endpoint_names.setdefault(spec.base_url, spec.name)


_endpoint_names: dict[str, str] = {}


def _record_failure(breaker: CircuitBreaker, endpoint: str, kind: str) -> None:
    was_open = breaker.opened_at is not None
    breaker.record_failure()
    metrics.UPSTREAM_ERRORS.labels(endpoint, kind).inc()
    if breaker.opened_at is not None and not was_open:
        metrics.CIRCUIT_OPEN.labels(endpoint).set(1)


async def _stream_once(
    spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any], on_delta: Delta
) -> StreamResult:
    started = time.monotonic()
    result = StreamResult(model=spec.name)
    try:
        async with asyncio.timeout(spec.ttft_timeout):  # never wait_for: it can swallow a stop (below)
            stream = await _open_stream(spec, messages, params)
    except (TimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as error:
        raise _retryable(error) from error
    except openai.APIStatusError as error:
        raise UpstreamRejected(details={"status": error.status_code, "model": spec.name}) from error
    try:
        await _consume(stream, spec, started, result, on_delta)
    finally:
        await stream.close()
    return result


async def _open_stream(spec: ModelSpec, messages: list[dict[str, str]], params: dict[str, Any]) -> Any:
    """POST the body as plain JSON through the client's transport.

    `chat.completions.create` first walks the whole body through the SDK's typed-dict transform,
    which costs about 40 ms of CPU per call here; our body is already plain JSON, so the client's
    lower-level `post` (same auth, retries off, same streaming parser) sends it as it is. Chunks
    come back as the plain dicts of their JSON: building a typed model of each costs ~65 µs of CPU
    per chunk on the event loop, for the three fields `_take` reads.
    """
    body = {"model": spec.remote_name, "messages": messages, "stream": True, **params}
    if spec.stream_usage:
        body["stream_options"] = {"include_usage": True}
    return await client_for(spec).post(
        "/chat/completions",
        body=body,
        cast_to=object,
        stream=True,
        stream_cls=openai.AsyncStream[object],
        options={"timeout": spec.total_timeout, "security": {"bearer_auth": True}},
    )


async def _consume(stream: Any, spec: ModelSpec, started: float, result: StreamResult, on_delta: Delta) -> None:
    chunks = stream.__aiter__()
    deadline = started + spec.total_timeout
    while True:
        limit = (started + spec.ttft_timeout if result.ttft_ms is None else deadline) - time.monotonic()
        try:
            # Python 3.11's wait_for loses a cancel (a stop) that lands as the chunk arrives; timeout() keeps it.
            async with asyncio.timeout(max(limit, 0.001)):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        except (TimeoutError, openai.APIError, ConnectionError) as error:
            if result.ttft_ms is None:
                raise _retryable(error) from error
            result.status, result.error_code = "interrupted", "upstream_interrupted"
            break
        await _take(chunk, started, result, on_delta)
    result.total_ms = int((time.monotonic() - started) * 1000)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


async def _take(chunk: Any, started: float, result: StreamResult, on_delta: Delta) -> None:
    """Read one chunk (a dict of its JSON); a provider's odd shapes count as no text, never an error."""
    cached = _field(_field(_field(chunk, "usage"), "prompt_tokens_details"), "cached_tokens")
    if isinstance(cached, int) and cached:
        result.cached_tokens = cached
    choices = _field(chunk, "choices")
    if not isinstance(choices, list) or not choices:
        return
    choice = choices[0]
    text = _field(_field(choice, "delta"), "content")
    if isinstance(text, str) and text:
        if result.ttft_ms is None:
            elapsed = time.monotonic() - started
            result.ttft_ms = int(elapsed * 1000)
            timing.upstream_first_chunk(elapsed)
        result.text += text
        result.chunks += 1
        await on_delta(text)
    if isinstance(finish := _field(choice, "finish_reason"), str) and finish:
        result.finish_reason = finish


def _describe(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return f"{type(error).__name__}{f' {status}' if status else ''}"


async def complete(
    *,
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    params: dict[str, Any] | None = None,
    fallbacks: Sequence[str] | None = None,
) -> StreamResult:
    """A whole answer at once, through the same retries and fallbacks as a streamed one."""

    async def began(text: str) -> None:
        timing.first_token()  # nobody hears it yet, but the answer has begun: the turn's first token

    return await stream_chat(
        model=model, messages=messages, params=params or {}, max_tokens=max_tokens, on_delta=began, fallbacks=fallbacks
    )
