"""Per-request facts (request id, client IP, API key) that logs and the audit trail read."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpRequest

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class RequestContext:
    request_id: str
    client_ip: str | None = None
    api_key_id: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request_context", default=None)


def new_request_id(candidate: str | None = None) -> str:
    """Keep a caller's id only when it is short and safe to echo into logs and headers."""
    if candidate and REQUEST_ID_PATTERN.match(candidate):
        return candidate
    return uuid.uuid4().hex


def begin(context: RequestContext) -> contextvars.Token:
    return _current.set(context)


def current() -> RequestContext | None:
    return _current.get()


def client_ip_of(request: HttpRequest) -> str | None:
    """The client's address as this service trusts it: REMOTE_ADDR (no proxy header is trusted yet)."""
    return request.META.get("REMOTE_ADDR")
