"""An ASGI wrapper that refuses request bodies over REQUEST_BODY_MAX_BYTES with a 413.

Django checks DATA_UPLOAD_MAX_MEMORY_SIZE only for form parsing and for `request.body` with a
declared Content-Length; DRF's JSON parser reads the stream past it, and a chunked body has no
Content-Length at all. Counting here, as the body arrives, bounds every route (DRF, the async
views, the admin) before Django buffers anything.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from chatpresets.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyTooLarge(Exception):
    pass


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _response(limit: int) -> tuple[Message, Message]:
    body = error_body(
        "request_too_large",
        f"The request body is larger than {limit:,} bytes (REQUEST_BODY_MAX_BYTES).",
        {"limit": "REQUEST_BODY_MAX_BYTES", "limit_value": limit},
    )
    content = json.dumps(body).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())],
    }
    return start, {"type": "http.response.body", "body": content}


class BodySizeLimit:
    """Wraps the HTTP application; websockets and lifespan pass straight through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.REQUEST_BODY_MAX_BYTES
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return
        received, started = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body, or one longer than it declared
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Any, limit: int) -> None:
        for message in _response(limit):
            await send(message)
