"""POST /api/v1/orgs/<org>/conversations/<id>/messages/: an async view, so a streamed answer never
holds a worker thread and its first token reaches the client as soon as the model sends it.

GET on the same path lists messages through the DRF view. Answers come back as JSON, or as
server-sent events with `"stream": true`. `Idempotency-Key` (or `client_id`) makes retries safe:
the first result is returned and no second message or model call is made.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from channels.db import database_sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers

from chatpresets import admission
from chatpresets.bearer import bearer_secret
from chatpresets.errors import DomainError, Forbidden, NotFound, dependency_failure
from chatpresets.observability import timing
from conversations import services
from conversations.api.plain import accepts, error_response
from conversations.api.serializers import RegenerateSerializer, SendMessageSerializer
from conversations.api.views import ConversationViewSet
from conversations.models import Conversation
from conversations.payloads import ack_frame, error_payload, message_payload
from conversations.selectors import conversation_for_caller
from conversations.turns import prepare_off_loop, stream_turn
from tenancy import denials
from tenancy.chat_caller import ChatCaller, NotAuthenticated, chat_caller, chat_caller_for_secret

logger = logging.getLogger(__name__)
# The URL pattern name of each operation, as DRF routes name theirs in `access.denied` events.
TURN_ROUTES = {"send": "conversation-messages", "regenerate": "conversation-regenerate", "edit": "conversation-edit"}

list_messages = ConversationViewSet.as_view({"get": "messages"})


class MalformedBody(DomainError):
    code = "parse_error"
    message = "The body is not valid JSON."


@admission.starts_turns
@csrf_exempt  # session callers are checked below, as DRF does; key callers send no cookies
@accepts("GET", "HEAD", "POST")
async def messages_endpoint(request: HttpRequest, org_slug: str, pk: str) -> HttpResponse:
    if request.method != "POST":
        return await database_sync_to_async(list_messages)(request, org_slug=org_slug, pk=pk)
    return await _turn_endpoint(request, org_slug, pk, operation="send")


@admission.starts_turns
@csrf_exempt
@accepts("POST")
async def regenerate_endpoint(request: HttpRequest, org_slug: str, pk: str) -> HttpResponse:
    """POST: answer the last question again; the old answer stays stored but leaves the prompt."""
    return await _turn_endpoint(request, org_slug, pk, operation="regenerate")


@admission.starts_turns
@csrf_exempt
@accepts("POST")
async def edit_endpoint(request: HttpRequest, org_slug: str, pk: str) -> HttpResponse:
    """POST {content}: replace the last question and answer the edited one."""
    return await _turn_endpoint(request, org_slug, pk, operation="edit")


async def _turn_endpoint(request: HttpRequest, org_slug: str, pk: str, *, operation: str) -> HttpResponse:
    """The turn, timed from here: `Server-Timing` on the answer (for a stream, what is known at its start)."""
    turn = timing.begin_turn("http")
    try:
        response = await _turn_response(request, org_slug, pk, operation=operation)
    except BaseException as error:
        timing.end_turn(turn, error)
        raise
    if response.status_code < 400:
        response["Server-Timing"] = timing.server_timing(turn)
    if not response.streaming:
        timing.end_turn(turn)  # a stream ends its turn when it ends
    return response


async def _turn_response(request: HttpRequest, org_slug: str, pk: str, *, operation: str) -> HttpResponse:
    try:
        body = _validated(request, operation=operation)
        secret, user = await _credentials(request)
        prepared = await prepare_off_loop(
            functools.partial(
                _authorized_turn,
                secret=secret,
                user=user,
                org_slug=org_slug,
                pk=pk,
                content=body.get("content", ""),
                client_id=body.get("client_id", ""),
                operation=operation,
            )
        )
        if body["stream"]:
            return _event_stream(prepared)
        return await _answer(prepared)
    except DomainError as error:
        timing.end_turn(timing.current_turn(), error)
        return error_response(error)


async def _credentials(request: HttpRequest) -> tuple[str | None, Any]:
    """An API key secret (checked with the rest, in one database round), or the session's user."""
    secret = bearer_secret(request.headers.get("Authorization", ""))
    if secret is not None:
        return secret, None
    user = await request.auser()
    if not user.is_authenticated:
        raise NotAuthenticated()
    if CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {}) is not None:
        raise Forbidden("CSRF check failed: send the X-CSRFToken header with session requests.")
    return None, user


def _authorized_turn(
    *, secret: str | None, user: Any, org_slug: str, pk: str, content: str, client_id: str, operation: str
) -> services.PreparedTurn:
    """The chat caller, the conversation, and the turn itself: one thread hop."""
    if secret is not None:
        caller = chat_caller_for_secret(secret, org_slug=org_slug)
    else:
        caller = chat_caller(user=user, api_key=None, org_slug=org_slug)
    try:
        return _prepared_turn(caller, pk=pk, content=content, client_id=client_id, operation=operation)
    except NotFound:  # the turn's transaction is rolled back: the denied attempt is recorded after it
        membership = caller.membership
        route = TURN_ROUTES[operation]
        denials.record_hidden(
            actor=membership.user, org=membership.org, route=route, method="POST", addressed=[(Conversation, pk)]
        )
        raise


def _prepared_turn(
    caller: ChatCaller, *, pk: str, content: str, client_id: str, operation: str
) -> services.PreparedTurn:
    membership, key_id = caller.membership, caller.api_key_id
    with services.turn_transaction():  # the conversation is read once, under the row lock the turn needs
        conversation = conversation_for_caller(membership=membership, conversation_id=pk, for_update=True)
        if operation == "regenerate":
            return services.prepare_regenerate_locked(
                membership=membership, conversation=conversation, api_key_id=key_id
            )
        prepare = services.prepare_edit_locked if operation == "edit" else services.prepare_turn_locked
        return prepare(
            membership=membership, conversation=conversation, content=content, client_id=client_id, api_key_id=key_id
        )


def _validated(request: HttpRequest, *, operation: str) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise MalformedBody(details={"reason": str(error)}) from error
    if operation == "regenerate":
        serializer: serializers.Serializer = RegenerateSerializer(data=data)
    else:
        if (header := request.headers.get("Idempotency-Key")) and isinstance(data, dict):
            data = {**data, "client_id": header}  # the header wins, and gets the field's checks (length)
        serializer = SendMessageSerializer(data=data)
    if not serializer.is_valid():
        raise services.InvalidInput("The request is not valid.", details={"fields": serializer.errors})
    return serializer.validated_data


async def _answer(prepared: services.PreparedTurn) -> JsonResponse:
    if prepared.replayed:
        return JsonResponse(_result(prepared.user_message, prepared.assistant_message), status=200)

    async def discard(frame: dict[str, Any]) -> None:
        return None

    message = await stream_turn(prepared=prepared, send=discard)
    result = _result(prepared.user_message, message)
    if getattr(message, "quota_warnings", None):
        result["warnings"] = message.quota_warnings
    return JsonResponse(result, status=201)


def _result(user_message: Any, answer: Any) -> dict[str, Any]:
    return {"user_message": message_payload(user_message), "message": message_payload(answer)}


def _event_stream(prepared: services.PreparedTurn) -> StreamingHttpResponse:
    events = _events(prepared, timing.current_turn(), ack_frame(prepared.user_message))
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must pass each event through at once
    return response


async def _events(
    prepared: services.PreparedTurn, turn: timing.Turn | None, ack: dict[str, Any]
) -> AsyncIterator[bytes]:
    timing.resume(turn)
    yield _sse(ack)
    if prepared.replayed:
        yield _sse({"type": "done", "message": message_payload(prepared.assistant_message)})
        return
    frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(_run_into(prepared, frames))
    try:
        while True:
            frame = await frames.get()
            yield _sse(frame)
            if frame["type"] in ("done", "error"):
                return
    finally:
        if not task.done():
            task.cancel()  # the client went away: stop the model, keep the partial answer
        timing.end_turn(turn)


async def _run_into(prepared: services.PreparedTurn, frames: asyncio.Queue[dict[str, Any]]) -> None:
    try:
        await stream_turn(prepared=prepared, send=frames.put)
    except DomainError as error:
        await frames.put(error_payload(error))
    except Exception as exc:  # the 200 is sent: any failure must still end the stream with an event
        unavailable = dependency_failure(exc)
        if unavailable is None:
            logger.exception("The answer failed after its stream started.")
        await frames.put(error_payload(unavailable))


def _sse(frame: dict[str, Any]) -> bytes:
    return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n".encode()
