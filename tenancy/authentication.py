"""`Authorization: Bearer <key>` authentication for programs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from chatpresets import request_context
from chatpresets.bearer import BEARER, bearer_secret
from tenancy import api_keys, key_guard, key_use
from tenancy.models import ApiKey, User
from tenancy.selectors import api_key_by_prefix


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = BEARER

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        secret = bearer_secret(authentication.get_authorization_header(request).decode("latin-1"))
        if secret is None:
            return None
        api_key = authenticate_key(secret)
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def authenticate_key(
    secret: str, *, client_ip: str | None = None, lookup: Callable[[str], ApiKey | None] = api_key_by_prefix
) -> ApiKey:
    """The active key for this secret, or AuthenticationFailed with one message for every cause.

    Failures count against the client's address (the request's, unless given); an address over the
    limit gets TooManyFailedAttempts for every key, the right one included (tenancy/key_guard.py).
    An accepted key's id goes into the request context, so what the caller does (and is refused)
    is audited with the key, and its first use of the day is recorded (tenancy/key_use.py).
    `lookup` finds the key by its prefix (a process's copy on the chat path: tenancy/caller_cache.py).
    """
    context = request_context.current()
    address = client_ip or (context.client_ip if context is not None else None)
    key_guard.ensure_not_locked_out(address)
    prefix = api_keys.parse_prefix(secret)
    api_key = lookup(prefix) if prefix is not None else None
    if (
        api_key is None
        or not api_keys.secret_matches(secret, api_key.secret_hash)
        or not api_key.is_active
        or not api_key.user.is_active
    ):
        key_guard.record_failure(address)
        raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
    if context is not None:
        context.api_key_id = str(api_key.pk)
    touch_last_used(api_key)
    key_use.note_use(api_key)
    return api_key


def touch_last_used(api_key: ApiKey) -> None:
    """Record use at most once per resolution window, so busy keys do not write on every call.

    A key kept by the process (tenancy/caller_cache.py) does not see this write, so the process
    remembers when it last wrote each key's use as well."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    known = [moment for moment in (api_key.last_used_at, _written.get(api_key.pk)) if moment is not None]
    if not known or now - max(known) >= resolution:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        if len(_written) >= MAX_WRITTEN:
            _written.clear()
        _written[api_key.pk] = now
        api_key.last_used_at = now


MAX_WRITTEN = 100_000
_written: dict[Any, datetime] = {}  # key id → when this process last wrote its use
