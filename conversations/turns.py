"""Running one answer: model tokens go straight to the caller's `send` as they arrive.

The database is touched only through sync_to_async, never on the event loop: the answer's text
is flushed every STREAM_FLUSH_SECONDS in the background, and its final state is written once.
A `stop` (`stop_answer`) reaches the answer wherever it streams: in this process it cancels the
model call at once, whichever socket or request started it; in another process that process's
flusher sees the stop flag within STREAM_FLUSH_SECONDS. Either way the partial answer is stored
as `cancelled` and every listener gets its `done`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from chatpresets import request_context, shutdown
from chatpresets.errors import DomainError
from chatpresets.llm import gateway
from chatpresets.observability import timing
from chatpresets.off_loop import undone_if_abandoned
from chatpresets.socket_threads import database_sync_to_async, sync_to_async
from conversations import answer_relay, metered, services
from conversations.models import Message, MessageStatus
from conversations.payloads import message_payload, money

Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Buffer:
    """An answer being streamed in this process: its deltas so far and who else is listening."""

    def __init__(self) -> None:
        self.text = ""
        self.flushed = ""
        self.deltas: list[str] = []
        self.listeners: list[Send] = []
        self.model: asyncio.Future | None = None  # the model call, which a stop cancels
        self.interrupted = False  # cut short by the process shutting down, not by a stop


# Answers streaming in this process, so a reconnecting socket can catch up and follow along.
LIVE: dict[str, _Buffer] = {}
# Stops for answers not (yet) live here: one whose task has not started, or one in another process.
STOPPED: dict[str, float] = {}
STOP_FLAG = "answer-stop:{}"


async def stop_answer(message_id: str) -> None:
    """Stop the answer `message_id` wherever it streams; a no-op once it has ended."""
    buffer = LIVE.get(message_id)
    if buffer is not None and buffer.model is not None:
        buffer.model.cancel()
        return
    now = time.monotonic()
    for stale in [key for key, at in STOPPED.items() if now - at > settings.STREAM_ABANDONED_SECONDS]:
        del STOPPED[stale]
    STOPPED[message_id] = now
    await sync_to_async(cache.set)(STOP_FLAG.format(message_id), True, timeout=settings.STREAM_ABANDONED_SECONDS)


async def _stop_requested(message_id: str) -> bool:
    if message_id in STOPPED:
        return True
    try:
        return bool(await sync_to_async(cache.get)(STOP_FLAG.format(message_id)))
    except Exception:  # the cache is down: a stop from another process waits, the answer goes on
        return False


async def attach(*, message_id: str, after_seq: int, send: Send) -> bool:
    """Replay the deltas after `after_seq` of a live answer to `send` and keep it posted; False if not live."""
    buffer = LIVE.get(message_id)
    if buffer is None:
        return False
    for seq, text in enumerate(buffer.deltas[after_seq:], start=after_seq + 1):
        await send({"type": "delta", "message_id": message_id, "seq": seq, "text": text})
    buffer.listeners.append(send)
    return True


async def resume(*, message_id: str, after_seq: int, send: Send) -> bool:
    """Catch `send` up on the answer wherever it streams: from this process's buffer, or from its
    Redis stream (answer_relay.py) when another process runs it; False if it streams nowhere now."""
    if await attach(message_id=message_id, after_seq=after_seq, send=send):
        return True

    async def ended() -> dict[str, Any] | None:
        message = await database_sync_to_async(services.answer_if_ended)(message_id=message_id)
        return None if message is None else {"type": "done", "message": message_payload(message)}

    return await answer_relay.follow(message_id=message_id, after_seq=after_seq, send=send, ended=ended)


async def prepare_off_loop(prepare: Callable[[], services.PreparedTurn]) -> services.PreparedTurn:
    """Prepare a turn in a worker thread; if the caller is cancelled meanwhile (the client left),
    the thread still finishes, so the turn it prepared is ended at once and holds nothing."""
    return await undone_if_abandoned(prepare, lambda prepared: services.abandon_turn(prepared=prepared))


async def stream_turn(*, prepared: services.PreparedTurn, send: Send) -> Message:
    """Stream the prepared answer to `send` (and any listener that attaches, here or, through its
    Redis stream, in another process) and return it stored."""
    answer_id, buffer = str(prepared.assistant_message.pk), _Buffer()
    publisher = answer_relay.publisher(answer_id)
    if publisher is not None:
        buffer.listeners.append(publisher.frame)
    try:
        with shutdown.streaming(functools.partial(_interrupt, buffer)):
            return await _stream(prepared, answer_id, buffer, send)
    finally:
        if publisher is not None:
            publisher.close()  # after the answer is stored: a follower's end comes with its `done`


def _interrupt(buffer: _Buffer) -> None:
    """The process is shutting down: end the answer as a stop would, but stored `interrupted`."""
    buffer.interrupted = True
    if buffer.model is not None:
        buffer.model.cancel()


async def _stream(prepared: services.PreparedTurn, answer_id: str, buffer: _Buffer, send: Send) -> Message:
    request_context.note(conversation_id=prepared.conversation_id, message_id=answer_id)
    buffer.listeners.append(send)
    LIVE[answer_id] = buffer

    async def broadcast(frame: dict[str, Any]) -> None:
        for listener in list(buffer.listeners):
            await listener(frame)

    restorer = prepared.screening.restorer() if prepared.screening else None

    async def emit(text: str) -> None:
        buffer.text += text
        buffer.deltas.append(text)
        await broadcast({"type": "delta", "message_id": answer_id, "seq": len(buffer.deltas), "text": text})

    async def on_delta(text: str) -> None:
        if restorer is not None:
            text = restorer.feed(text)  # placeholders go back to the originals the user wrote
        if text:
            await emit(text)

    buffer.model = asyncio.ensure_future(metered.stream(prepared.call, on_delta))
    if STOPPED.pop(answer_id, None) is not None or buffer.interrupted:  # stopped before it started
        buffer.model.cancel()
    flusher = asyncio.create_task(_flush_periodically(answer_id, buffer))
    send = broadcast
    try:
        result = await buffer.model
        if restorer is not None and (tail := restorer.flush()):
            await emit(tail)
    except asyncio.CancelledError:
        ended = MessageStatus.INTERRUPTED if buffer.interrupted else MessageStatus.CANCELLED
        message = await _finish(prepared, buffer, status=ended, send=send)
        if _cancelled_from_outside():
            raise  # the caller itself was cancelled (its client left): it must see that
        return message  # a stop: the answer ended, cancelled
    except Exception as error:  # a DomainError, or a bug or unmapped error in the model stream
        await _finish(prepared, buffer, status=MessageStatus.FAILED, send=send, error=error)
        raise
    finally:
        flusher.cancel()
        LIVE.pop(answer_id, None)
        STOPPED.pop(answer_id, None)
    return await _finish(prepared, buffer, status=result.status, send=send, result=result)


def _cancelled_from_outside() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _finish(
    prepared: services.PreparedTurn,
    buffer: _Buffer,
    *,
    status: str,
    send: Send,
    result: gateway.StreamResult | None = None,
    error: Exception | None = None,
) -> Message:
    """Store the answer's final state and settle its quota hold (the one place every ending passes)."""
    error_code = error.code if isinstance(error, DomainError) else "internal_error" if error else ""
    with timing.stage("persistence"):
        message = await asyncio.shield(
            database_sync_to_async(services.finish_turn)(
                call=prepared.call,
                text=buffer.text,
                status=status,
                result=result,
                error_code=(result.error_code if result else "") or error_code,
                attempts=result.attempts if result else getattr(error, "details", {}).get("attempts", []),
            )
        )
    if error is None:
        done = {"type": "done", "message": message_payload(message), "usage": _usage(message)}
        if getattr(message, "quota_warnings", None):
            done["warnings"] = message.quota_warnings
        if (turn := timing.current_turn()) is not None:
            done["timing"] = timing.summary(turn)  # where the service's time went, in ms
        await send(done)
    return message


def _usage(message: Message) -> dict[str, Any]:
    return {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.prompt_tokens + message.completion_tokens,
        "cost": money(message.cost),
    }


async def _flush_periodically(message_id: Any, buffer: _Buffer) -> None:
    """Write new text every STREAM_FLUSH_SECONDS; with none, touch the answer (a one-column update) so
    a live answer waiting on a slow model is never taken for abandoned (STREAM_ABANDONED_SECONDS)."""
    while True:
        await asyncio.sleep(settings.STREAM_FLUSH_SECONDS)
        if await _stop_requested(str(message_id)) and buffer.model is not None:
            buffer.model.cancel()  # stopped from a socket in another process
        if buffer.text != buffer.flushed:
            text = buffer.text
            await database_sync_to_async(services.record_progress)(message_id=message_id, text=text)
            buffer.flushed = text
        else:
            await database_sync_to_async(services.record_alive)(message_id=message_id)
