"""An OpenAI-compatible API for programs: POST /v1/chat/completions and GET /v1/models.

Authenticated by this service's API keys (the key's organisation is the tenant). `model` names a
preset (`preset:<slug>`, `preset:<slug>@<version>` or `preset:<slug>#<label>`) or a catalogue
model the organisation allows. A preset's rendered system prompt comes first; its model and parameters apply unless
the request overrides parameters. Works unmodified with the official `openai` client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from chatpresets import admission, shutdown, version_tokens
from chatpresets.bearer import bearer_secret
from chatpresets.errors import (
    DomainError,
    InvalidInput,
    NotFound,
    TooLarge,
    dependency_failure,
    error_body,
    openai_fields,
    too_large,
)
from chatpresets.llm import gateway
from chatpresets.llm.catalogue import catalogue
from chatpresets.llm.cost_controls import controls_for
from chatpresets.llm.pii.policy import Screening, screening_for
from chatpresets.llm.tokens import REPLY_PRIMING, count_message, count_text
from chatpresets.observability import timing
from chatpresets.off_loop import undone_if_abandoned
from conversations import metered
from conversations.api.openai_params import check_params
from conversations.api.plain import accepts
from conversations.api.plain import error_response as shared_error_response
from conversations.api.send import MalformedBody
from conversations.context import ContextTooLong
from conversations.models import UsageKind
from presets import row_copies
from presets.resolve import resolve_for_conversation
from presets.selectors import preset_list_visible
from tenancy.chat_caller import NotAuthenticated, chat_caller_for_secret
from tenancy.metering import guardrails
from tenancy.models import ApiKey, Membership
from tenancy.org_settings import LABEL_NAME

ROLES = {"system", "user", "assistant"}


PASSTHROUGH = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "stop")

logger = logging.getLogger(__name__)


def error_response(error: DomainError) -> HttpResponse:
    return shared_error_response(error, extra=openai_fields(error))


class StreamFailed(DomainError):
    code = "internal_error"
    status_code = 500
    message = "The answer failed; it has been logged."


def _as_error(exc: BaseException | None) -> DomainError:
    """The failure as the client sees it: a domain error, a dependency's, or else logged and internal."""
    if isinstance(exc, DomainError):
        return exc
    if (error := dependency_failure(exc)) is not None:
        return error
    logger.error("A streamed completion failed.", exc_info=exc)
    return StreamFailed()


def _error_chunk(exc: Exception) -> bytes:
    """A failure after the 200 went out: one `data:` line in the error shape, and the stream ends."""
    error = _as_error(exc)
    body = error_body(error.code, error.message, error.details)
    body["error"].update(openai_fields(error))
    return f"data: {json.dumps(body)}\n\n".encode()


@dataclass
class Call:
    name: str  # the `model` the client asked for, echoed in every answer
    metered: metered.MeteredCall
    screening: Screening | None = None  # the PII mode; its vault restores the answer


def _secret(request: HttpRequest) -> str:
    """/v1 takes only API keys, and acts in the key's own organisation."""
    secret = bearer_secret(request.headers.get("Authorization", ""))
    if secret is None:
        raise NotAuthenticated()
    return secret


def _key_caller(secret: str) -> tuple[Membership, ApiKey]:
    caller = chat_caller_for_secret(secret, org_slug=None)
    return caller.membership, caller.required_api_key


def allowed_models(membership: Membership) -> list[str]:
    return controls_for(membership.org.settings).visible_models()


@csrf_exempt
@accepts("GET", "HEAD", refuse=error_response)
async def models_endpoint(request: HttpRequest) -> HttpResponse:
    try:
        names = await database_sync_to_async(_model_names)(_secret(request))
    except DomainError as error:
        return error_response(error)
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "chatpresets"} for name in names]
    return JsonResponse({"object": "list", "data": data})


def _model_names(secret: str) -> list[str]:
    """The caller and what it may name: one thread hop."""
    membership, _ = _key_caller(secret)
    presets = preset_list_visible(membership=membership).exclude(approved_version=None).values_list("slug", flat=True)
    return allowed_models(membership) + [f"preset:{slug}" for slug in presets]


@admission.starts_turns
@csrf_exempt
@accepts("POST", refuse=error_response)
async def chat_completions_endpoint(request: HttpRequest) -> HttpResponse:
    """One timed turn: `Server-Timing` on the answer (for a stream, what is known at its start)."""
    turn = timing.begin_turn("v1")
    try:
        response = await _completion(request)
    except BaseException as error:
        timing.end_turn(turn, error)
        raise
    if response.status_code == 200:
        response["Server-Timing"] = timing.server_timing(turn)
    if not response.streaming:
        timing.end_turn(turn)  # a stream ends its turn when it ends
    return response


async def _completion(request: HttpRequest) -> HttpResponse:
    try:
        call, body = await undone_if_abandoned(_caller_and_call, _release_abandoned, _secret(request), request)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await _stream(call, include_usage=include_usage, primed=isinstance(request, ASGIRequest))
        return await _complete(call)
    except DomainError as error:
        timing.end_turn(timing.current_turn(), error)
        return error_response(error)


def _caller_and_call(secret: str, request: HttpRequest) -> tuple[Call, dict[str, Any]]:
    """The key's caller, then the body, then the admitted call: one thread hop, in the order of the
    refusals (a bad key is a 401 whatever the body). The organisation's copies (caller, limit
    overrides, preset) are checked against their tokens in one read."""
    with version_tokens.read_together():
        membership, api_key = _key_caller(secret)
        body = _body(request)
        with timing.stage("context"):  # the prompt built and counted; its guardrails stage is timed apart
            return _plan_call(membership, api_key, body), body


def _release_abandoned(admitted: tuple[Call, dict[str, Any]]) -> None:
    """The client left while its call was admitted: what the call holds goes back at once."""
    metered.release(admitted[0].metered, client_left=True)


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise MalformedBody(details={"reason": str(error)}) from error
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise InvalidInput("`model` is required.", details={"field": "model"})
    if "\x00" in body["model"]:  # a preset slug reaches a query, and PostgreSQL text cannot hold NUL
        raise InvalidInput("Null characters are not allowed.", details={"field": "model"})
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(_valid_message(m) for m in messages):
        raise InvalidInput(
            "`messages` must be a non-empty list of {role, content} objects.", details={"field": "messages"}
        )
    _check_sizes(messages)
    check_params(body)
    return body


def _check_sizes(messages: list[dict[str, Any]]) -> None:
    """Bounded before PII screening and token counting read every message."""
    most = settings.COMPLETIONS_MAX_MESSAGES
    if len(messages) > most:
        raise TooLarge(
            f"At most {most} messages are allowed (COMPLETIONS_MAX_MESSAGES).",
            details={
                "field": "messages",
                "limit": "COMPLETIONS_MAX_MESSAGES",
                "limit_value": most,
                "size": len(messages),
            },
        )
    total, limit = sum(len(m["content"]) for m in messages), settings.COMPLETIONS_MAX_CHARS
    if total > limit:
        raise too_large(
            field="messages", limit="COMPLETIONS_MAX_CHARS", limit_value=limit, size=total, what="The messages together"
        )


def _valid_message(message: Any) -> bool:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        return False  # a role that is an object or a list cannot even be looked up in ROLES
    return message["role"] in ROLES and isinstance(message.get("content"), str)


@guardrails.released_on_error()
def _plan_call(membership: Membership, api_key: ApiKey, body: dict[str, Any]) -> Call:
    name, messages, params = body["model"], [{"role": m["role"], "content": m["content"]} for m in body["messages"]], {}
    preset_id = preset_version = policy = None
    if name.startswith("preset:"):
        resolved = _resolve_preset(membership, name, body.get("variables") or {})
        preset_id, preset_version, policy = resolved.preset_id, resolved.version, resolved.policy
        messages, params, model = (
            [{"role": "system", "content": resolved.system_prompt}, *messages],
            resolved.params,
            resolved.model,
        )
    else:
        if name not in catalogue():
            raise InvalidInput(f"Model {name!r} is not available.", details={"field": "model"})
        model = name
    controls = controls_for(membership.org.settings)
    spec = controls.model(model)
    screened = _screen(membership, messages, policy)
    params = {**params, **{key: body[key] for key in PASSTHROUGH if body.get(key) is not None}}
    requested = body.get("max_tokens") or body.get("max_completion_tokens") or params.get("max_tokens")
    max_tokens = controls.answer_limit(spec, requested)
    prompt_tokens = sum(count_message(m["role"], m["content"], spec.encoding) for m in messages) + REPLY_PRIMING
    window = controls.context_window(spec, (policy or {}).get("max_context_tokens"))
    if prompt_tokens + max_tokens > window:
        raise ContextTooLong(details={"required_tokens": prompt_tokens + max_tokens, "context_window": window})
    call = metered.admit(
        membership=membership,
        kind=UsageKind.COMPLETION_API,
        spec=spec,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        messages=messages,
        params=params,
        fallbacks=controls.fallbacks(spec, policy),
        api_key_id=api_key.pk,
        preset_id=preset_id,
        preset_version=preset_version,
        preset_policy=policy,
    )
    return Call(name, call, screened)


def _screen(membership: Membership, messages: list[dict[str, str]], policy: dict[str, Any] | None) -> Screening:
    """Apply the PII mode to the caller's messages in place; nothing of them is stored here."""
    screened = screening_for(org_settings=membership.org.settings, preset_policy=policy)
    if screened.mode == "block":
        for message in messages:
            if message["role"] != "system":
                screened.stored_text(message["content"])  # raises pii_blocked on the first finding
    messages[:] = screened.for_model(messages)
    return screened


def _resolve_preset(membership: Membership, name: str, variables: dict[str, Any]) -> Any:
    """`preset:<slug>`, `preset:<slug>@<version>` or `preset:<slug>#<label>`."""
    reference, hashed, label = name.removeprefix("preset:").partition("#")
    slug, _, version = reference.partition("@")
    if (version and not version.isdigit()) or (hashed and (version or not LABEL_NAME.match(label))):
        raise InvalidInput(
            "Use preset:<slug>, preset:<slug>@<version number> or preset:<slug>#<label>.", details={"field": "model"}
        )
    preset = row_copies.alive_by_slug(membership.org, slug)
    if preset is None:
        raise NotFound(f"No preset {slug!r} here.")
    return resolve_for_conversation(
        membership=membership,
        preset_id=preset.pk,
        version=int(version) if version else None,
        values=variables,
        preset=preset,
        label=label,
    )


async def _complete(call: Call) -> JsonResponse:
    task = asyncio.ensure_future(metered.complete(call.metered))
    # A draining process interrupts the call past its grace and waits for this block to end, so
    # the hold is given back while the process still runs, not left to expire.
    with shutdown.streaming(task.cancel):
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:  # Django cancels the view when its client disconnects
            task.cancel()
            await asyncio.shield(database_sync_to_async(metered.release)(call.metered, client_left=True))
            raise
        if task.cancelled() or task.exception() is not None:
            await database_sync_to_async(metered.release)(call.metered)
            if task.cancelled():
                raise shutdown.ShuttingDown()
        result = task.result()
    completion_tokens = count_text(result.text, call.metered.spec.encoding)
    await database_sync_to_async(_record)(call, result, completion_tokens)
    if result.status == "interrupted":  # recorded and charged: the tokens were spent
        raise gateway.UpstreamInterrupted(details={"model": result.model})
    text = call.screening.restore(result.text) if call.screening else result.text
    return JsonResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": result.finish_reason or "stop",
                }
            ],
            "usage": _usage(call.metered.prompt_tokens, completion_tokens),
        }
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _stream(call: Call, *, include_usage: bool, primed: bool) -> StreamingHttpResponse:
    """`primed`: the status waits for the answer's first text, as OpenAI's and LiteLLM's do, so a model
    that fails before it answers is an HTTP error (503 `model_unavailable`, …), which clients and their
    SDKs retry, not a 200 whose stream holds nothing but the error.

    Only over ASGI, where the server iterates the stream on the view's own event loop. A sync caller
    (Django's test client, a WSGI server) iterates it on a loop of its own, so there the stream starts
    when it is read, and a failure before the first text is its first event."""
    chunks = _chunks(call, include_usage, timing.current_turn(), primed=primed)
    if primed:
        first = await anext(chunks)  # raises the DomainError of a call that failed before any text
        chunks = _primed(first, chunks)
    response = StreamingHttpResponse(chunks, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _primed(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`first`, then the rest. A response never iterated (its client left before its status went
    out) leaves `rest` suspended: the event loop's finalizer closes it, and it gives its holds back."""
    try:
        yield first
        async for part in rest:
            yield part
    finally:
        await rest.aclose()


async def _chunks(
    call: Call, include_usage: bool, turn: timing.Turn | None = None, *, primed: bool = False
) -> AsyncIterator[bytes]:
    timing.resume(turn)
    chunk_id, created, queue = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), asyncio.Queue()
    client_left = False

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": call.name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    restorer = call.screening.restorer() if call.screening else None
    produced: list[str] = []  # the model's text so far: what a client that leaves still pays for
    answering = asyncio.Event()  # the first text is queued

    async def on_delta(text: str) -> None:
        produced.append(text)
        text = restorer.feed(text) if restorer else text
        if text:
            await queue.put(text)
            answering.set()

    task = asyncio.create_task(metered.stream(call.metered, on_delta))
    # A draining process interrupts the call past its grace, and waits for it to settle below.
    with shutdown.streaming(task.cancel):
        try:
            waiting = asyncio.ensure_future(answering.wait())
            try:
                await asyncio.wait({waiting, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if queue.empty() and task.done() and (task.cancelled() or task.exception() is not None):
                # No text: interrupted by a drain, or failed. Primed, the status can still say so.
                error = shutdown.ShuttingDown() if task.cancelled() else _as_error(task.exception())
                if primed:
                    raise error
                yield _error_chunk(error)
                return
            yield chunk({"role": "assistant", "content": ""})
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield chunk({"content": getter.result()})
                else:
                    getter.cancel()
            try:
                result = task.result()
            except Exception as exc:  # the 200 is sent: the client must still learn why the answer stopped
                yield _error_chunk(exc)
                return
            if restorer is not None and (tail := restorer.flush()):
                yield chunk({"content": tail})
            completion_tokens = count_text(result.text, call.metered.spec.encoding)
            await database_sync_to_async(_record)(call, result, completion_tokens)
            if result.status == "interrupted":  # never a `stop`: the client must know the text is cut short
                yield _error_chunk(gateway.UpstreamInterrupted(details={"model": result.model}))
                return
            yield chunk({}, result.finish_reason or "stop")
            if include_usage:
                body = {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": call.name,
                    "choices": [],
                    "usage": _usage(call.metered.prompt_tokens, completion_tokens),
                }
                yield f"data: {json.dumps(body)}\n\n".encode()
            yield b"data: [DONE]\n\n"
        except (GeneratorExit, asyncio.CancelledError):
            # Django closes the stream (at a `yield`) or cancels it (at an `await`) when the client
            # disconnects: the turn was stopped, unless the model had already failed it.
            client_left = not _failed(task)
            raise
        finally:
            # However the stream ends before it is recorded (an error, the client went away), the
            # call's hold is given back: one place for every exit.
            if not task.done():
                task.cancel()
            if call.metered.admission is not None:
                await asyncio.shield(database_sync_to_async(_settle_unrecorded)(call, "".join(produced), client_left))
            timing.end_turn(turn)


def _settle_unrecorded(call: Call, text: str, client_left: bool) -> None:
    """A client that left mid-answer pays for the text the model had produced, as a stopped chat turn
    does; a stream that ended on an error, or before any text, gives its holds back."""
    if client_left and text:
        completion_tokens = count_text(text, call.metered.spec.encoding)
        metered.finish(call.metered, status="cancelled", completion_tokens=completion_tokens)
    else:
        metered.release(call.metered, client_left=client_left)


def _failed(task: asyncio.Task) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


def _record(call: Call, result: gateway.StreamResult, completion_tokens: int) -> None:
    with timing.stage("persistence"):
        metered.finish(call.metered, status=result.status, completion_tokens=completion_tokens, result=result)
