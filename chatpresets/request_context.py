"""Per-request facts that logs and the audit trail read: the request id, client IP, and the
organisation, user, API key, conversation and answer once the code that resolves them knows them."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class RequestContext:
    request_id: str
    client_ip: str | None = None
    api_key_id: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    connection_id: str | None = None  # a websocket turn: the request id of the socket it came on

    def log_fields(self) -> dict[str, str]:
        """The ids known so far, as log records carry them (never names or e-mail addresses)."""
        fields = {name: getattr(self, name) for name in LOGGED_IDS}
        return {name: value for name, value in fields.items() if value is not None}


LOGGED_IDS = ("org_id", "user_id", "api_key_id", "conversation_id", "message_id", "connection_id")


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request_context", default=None)


def new_request_id(candidate: str | None = None) -> str:
    """Keep a caller's id only when it is short and safe to echo into logs and headers."""
    if candidate and REQUEST_ID_PATTERN.match(candidate):
        return candidate
    return uuid.uuid4().hex


def begin(context: RequestContext) -> contextvars.Token:
    return _current.set(context)


def begin_socket(scope: dict) -> RequestContext:
    """A websocket's own context, from its handshake's ASGI scope: a new id and the client's address."""
    context = RequestContext(new_request_id(), client_ip=(scope.get("client") or [None])[0])
    begin(context)
    return context


def begin_within(parent: RequestContext | None) -> contextvars.Token:
    """A context of its own, with a new request id, for one request carried by a longer-lived one
    (a websocket turn on its socket): it starts with the socket's address and caller ids, keeps the
    socket's id as `connection_id`, and what it notes (its answer) stays out of the socket's. Undo
    with `end` where the socket goes on; tasks started meanwhile keep the turn's context."""
    if parent is None:
        return _current.set(RequestContext(new_request_id()))
    own = replace(parent, request_id=new_request_id(), connection_id=parent.request_id, message_id=None)
    return _current.set(own)


def end(token: contextvars.Token) -> None:
    _current.reset(token)


def current() -> RequestContext | None:
    return _current.get()


def note(**ids: object) -> None:
    """Add ids (org_id=…, user_id=…) to the current request's context, as strings; a no-op outside one."""
    context = _current.get()
    if context is None:
        return
    for name, value in ids.items():
        if value is not None:
            setattr(context, name, str(value))


def client_ip_of(request: HttpRequest) -> str | None:
    """The client's address as this service trusts it: REMOTE_ADDR (no proxy header is trusted yet)."""
    return request.META.get("REMOTE_ADDR")
