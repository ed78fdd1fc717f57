"""The JSON shape of a message, shared by the REST API, server-sent events and websocket frames."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chatpresets import request_context
from chatpresets.errors import DomainError, retry_after
from conversations.models import Message

COST_PLACES = Decimal("0.00000001")


def money(value: Decimal) -> str:
    """Cost with the stored precision, the same before and after a database round trip."""
    return format(Decimal(value).quantize(COST_PLACES), "f")


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.pk),
        "conversation": str(message.conversation_id),
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error_code": message.error_code,
        "token_count": message.token_count,
        "model": message.model,
        "preset_version": message.preset_version,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost": money(message.cost),
        "ttft_ms": message.ttft_ms,
        "total_ms": message.total_ms,
        "finish_reason": message.finish_reason,
        "client_id": message.client_id,
        "superseded": message.superseded,
        "pii": message.pii,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def ack_frame(user_message: Message) -> dict[str, Any]:
    """The turn's first frame: the stored question and the turn's request id (its log lines' and
    audit events' `request_id`, for a client to quote), over the websocket and server-sent events."""
    context = request_context.current()
    return {
        "type": "ack",
        "message": message_payload(user_message),
        "request_id": context.request_id if context is not None else "",
    }


def error_payload(error: DomainError | None) -> dict[str, Any]:
    """A refused frame or a failed answer, as the websocket and server-sent events say it, with the
    request id to quote (the turn's, within a turn). None: a failure that is a bug, not a refusal;
    the stored answer then has the same `internal_error` code."""
    context = request_context.current()
    if error is None:
        code, message, details = "internal_error", "The answer failed; it has been logged.", {}
    else:
        code, message, details = error.code, error.message, error.details
    return {
        "type": "error",
        "code": code,
        "message": message,
        "details": details,
        "request_id": context.request_id if context is not None else "",
    }


def error_frame(error: DomainError) -> dict[str, Any]:
    """error_payload with the refusal's wait, if it has one, as `retry_after` beside its details."""
    frame = error_payload(error)
    seconds = retry_after(error) or error.details.get("retry_after")
    if seconds is not None:
        frame["retry_after"] = seconds
    return frame
