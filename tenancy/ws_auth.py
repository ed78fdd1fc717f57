"""Websocket authentication: an API key in the Authorization header, or a browser session.

Browsers send cookies and an Origin, so session sockets must come from an allowed origin
(the websocket form of CSRF protection). Programs with a key send no cookies; the key is
the credential and the Origin does not matter. Each socket gets a request context (an id and the
client's address) for its whole life, as each HTTP request does, so logs and the audit trail of
what it does carry them (and the key: tenancy/chat_caller.py); each chat turn on it gets its own
id, under the socket's (conversations/consumers.py).
"""

from __future__ import annotations

import json
from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.contrib.auth.models import AnonymousUser

from chatpresets import request_context, socket_threads
from chatpresets.bearer import bearer_secret
from chatpresets.errors import UNAVAILABLE_EXCEPTIONS, dependency_failure
from chatpresets.socket_threads import database_sync_to_async
from tenancy.chat_caller import BadApiKey, api_key_for_secret
from tenancy.key_guard import TooManyFailedAttempts

# Like the consumer's 4403 and 4404: the HTTP status in the 4000 range of websocket close codes.
CLOSE_TOO_MANY_FAILED_ATTEMPTS = 4429
CLOSE_UNAUTHENTICATED = 4401
# The database or Redis cannot serve now. Not RFC 6455's 1013: daphne's websocket library sends no
# close code below 3000 but 1000, and raises on any other.
CLOSE_UNAVAILABLE = 4503


async def refuse_handshake(receive: Any, send: Any, code: int, frame: dict[str, Any] | None = None) -> None:
    """Refuse the socket with `code`, after `frame` (JSON) if given, without reaching any consumer.

    Accepted, then closed at once: a close before the accept reaches the client as an HTTP 403
    without the code. No consumer runs, so nothing the client sends meanwhile is processed.
    """
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.accept"})
        if frame is not None:
            await send({"type": "websocket.send", "text": json.dumps(frame)})
        await send({"type": "websocket.close", "code": code})


class PooledSessionAuth(AuthMiddleware):
    """Channels' session login, its user looked up on the socket's thread pool: channels' own
    `get_user` is thread-sensitive, so every session socket's handshake would queue on one thread."""

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await database_sync_to_async(get_user.func)(scope)


class ApiKeyOrSessionAuth:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_stack = AllowedHostsOriginValidator(CookieMiddleware(SessionMiddleware(PooledSessionAuth(inner))))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        socket_threads.use_pool()  # this socket's queries, and its answers', never queue behind other sockets'
        headers = dict(scope.get("headers", []))
        client_ip = request_context.begin_socket(scope).client_ip
        secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1"))
        if secret is None:
            if b"cookie" not in headers:
                # No key and no session: 4401 whatever the Origin, which only guards cookies.
                return await refuse_handshake(receive, send, CLOSE_UNAUTHENTICATED)
            try:  # the consumer handles its own outages, so one raised here came before it ran
                return await self.session_stack(scope, receive, send)
            except UNAVAILABLE_EXCEPTIONS as exc:
                dependency_failure(exc)
                return await refuse_handshake(receive, send, CLOSE_UNAVAILABLE)
        try:
            api_key = await database_sync_to_async(api_key_for_secret)(secret, client_ip=client_ip)
            scope = {**scope, "user": api_key.user, "api_key": api_key}
        except TooManyFailedAttempts:
            return await refuse_handshake(receive, send, CLOSE_TOO_MANY_FAILED_ATTEMPTS)
        except BadApiKey:
            scope = {**scope, "user": AnonymousUser(), "api_key": None}  # refused with 4401 under it
        except UNAVAILABLE_EXCEPTIONS as exc:
            dependency_failure(exc)
            return await refuse_handshake(receive, send, CLOSE_UNAVAILABLE)
        return await self.inner(scope, receive, send)
