"""Running one answer: model tokens go straight to the caller's `send` as they arrive.

The database is touched only through sync_to_async, never on the event loop: the answer's text
is flushed every STREAM_FLUSH_SECONDS in the background, and its final state is written once.
Cancelling the task (a `stop`) closes the upstream request and keeps the partial answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chatpresets.errors import DomainError
from conversations import gateway, services
from conversations.models import Message, MessageStatus
from conversations.payloads import message_payload

Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Buffer:
    def __init__(self) -> None:
        self.text = ""
        self.flushed = ""
        self.deltas = 0


async def run_turn(*, prepared: services.PreparedTurn, send: Send) -> Message:
    """Stream the prepared answer to `send` and return the stored final message."""
    answer_id, buffer = prepared.assistant_message.pk, _Buffer()

    async def on_delta(text: str) -> None:
        buffer.text += text
        buffer.deltas += 1
        await send({"type": "delta", "message_id": str(answer_id), "seq": buffer.deltas, "text": text})

    flusher = asyncio.create_task(_flush_periodically(answer_id, buffer))
    try:
        result = await gateway.stream_chat(
            model=prepared.spec.name,
            messages=prepared.plan.messages(),
            params=prepared.params,
            max_tokens=prepared.max_tokens,
            on_delta=on_delta,
        )
    except asyncio.CancelledError:
        await _finish(prepared, buffer, status=MessageStatus.CANCELLED, send=send)
        raise
    except DomainError as error:
        await _finish(prepared, buffer, status=MessageStatus.FAILED, send=send, error=error)
        raise
    finally:
        flusher.cancel()
    return await _finish(prepared, buffer, status=result.status, send=send, result=result)


async def _finish(
    prepared: services.PreparedTurn,
    buffer: _Buffer,
    *,
    status: str,
    send: Send,
    result: gateway.StreamResult | None = None,
    error: DomainError | None = None,
) -> Message:
    message = await asyncio.shield(
        database_sync_to_async(services.record_outcome)(
            message_id=prepared.assistant_message.pk,
            text=buffer.text,
            status=status,
            spec=prepared.spec,
            prompt_tokens=prepared.plan.used,
            finish_reason=result.finish_reason if result else "",
            error_code=(result.error_code if result else "") or (error.code if error else ""),
            ttft_ms=result.ttft_ms if result else None,
            total_ms=result.total_ms if result else None,
            model=result.model if result else "",
        )
    )
    if error is None:
        await send({"type": "done", "message": message_payload(message), "usage": _usage(message)})
    return message


def _usage(message: Message) -> dict[str, Any]:
    return {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.prompt_tokens + message.completion_tokens,
        "cost": str(message.cost),
    }


async def _flush_periodically(message_id: Any, buffer: _Buffer) -> None:
    while True:
        await asyncio.sleep(settings.STREAM_FLUSH_SECONDS)
        if buffer.text != buffer.flushed:
            text = buffer.text
            await database_sync_to_async(services.record_progress)(message_id=message_id, text=text)
            buffer.flushed = text
