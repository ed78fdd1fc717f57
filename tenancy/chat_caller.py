"""Who is chatting: one resolver for every chat transport (websocket, the HTTP send endpoint, /v1).

A chat caller is an API key or a signed-in user, a member of the organisation (the URL's, or for
/v1 the key's own) whose role grants `chat` and, for a key, whose scopes include `chat`. Each
refusal is one DomainError with one code and message whatever the transport; the transport only
maps it to its wire form (a JSON error, OpenAI's error shape, or a websocket close code or frame).
The order matches the DRF routes: credentials (401), then membership (404), then permission (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions

from chatpresets import request_context
from chatpresets.errors import DomainError, Forbidden, NotFound
from chatpresets.observability.timing import stage
from tenancy import caller_cache, denials
from tenancy.authentication import authenticate_key
from tenancy.models import ApiKey, Membership, User
from tenancy.permissions import Perm, key_allows, role_has
from tenancy.selectors import active_api_key, active_user, membership_for_caller


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status_code = 401
    message = "Authentication credentials were not provided."


class BadApiKey(DomainError):
    """The same refusal for an unknown, wrong, revoked or expired key, or one whose user is inactive."""

    code = "authentication_failed"
    status_code = 401
    message = "Invalid, expired or revoked API key."


class ChatNotAllowed(Forbidden):
    message = "Your role or API key scope does not allow chatting."


@dataclass(frozen=True)
class ChatCaller:
    membership: Membership
    api_key: ApiKey | None

    @property
    def api_key_id(self) -> Any:
        return self.api_key.pk if self.api_key is not None else None

    @property
    def required_api_key(self) -> ApiKey:
        """The key, on transports that take only keys (/v1): a session there is no credential."""
        if self.api_key is None:
            raise NotAuthenticated()
        return self.api_key


def api_key_for_secret(secret: str, *, client_ip: str | None = None) -> ApiKey:
    """The active key for a presented secret; BadApiKey, or TooManyFailedAttempts from a locked-out address."""
    try:
        return authenticate_key(secret, client_ip=client_ip, lookup=caller_cache.key_for_prefix)
    except exceptions.AuthenticationFailed as error:
        raise BadApiKey() from error


def chat_caller_for_secret(secret: str, *, org_slug: str | None) -> ChatCaller:
    """A key caller from the secret it presented, in the URL's organisation or (None: /v1) the key's own."""
    with stage("caller"):
        api_key = api_key_for_secret(secret)
        return chat_caller(user=api_key.user, api_key=api_key, org_slug=org_slug or api_key.org.slug, kept=True)


def chat_caller_as_stored(*, user_id: Any, key_id: Any, org_slug: str) -> ChatCaller:
    """The caller re-read by id, as stored now: a socket's key or user may have changed since its handshake."""
    with stage("caller"):
        return _caller_as_stored(user_id=user_id, key_id=key_id, org_slug=org_slug)


def _caller_as_stored(*, user_id: Any, key_id: Any, org_slug: str) -> ChatCaller:
    if key_id is not None:
        api_key = active_api_key(key_id=key_id)
        if api_key is None:
            raise BadApiKey()
        return chat_caller(user=api_key.user, api_key=api_key, org_slug=org_slug)
    user = active_user(user_id=user_id) if user_id is not None else None
    if user is None:
        raise NotAuthenticated()
    return chat_caller(user=user, api_key=None, org_slug=org_slug)


def chat_caller(*, user: User | None, api_key: ApiKey | None, org_slug: str, kept: bool = False) -> ChatCaller:
    """Membership in the organisation (else the same 404 for every cause), then the `chat` permission and scope.

    A key's id goes into the request context, so what the caller does is audited with the key, as
    on the DRF routes; the organisation and user go there too, for the logs. Refusals are audited as
    the DRF routes' are (tenancy/denials.py), under the route name `chat`, whichever transport asked.
    `kept`: a key caller's membership may come from the process's copy (tenancy/caller_cache.py).
    """
    with stage("caller"):
        if user is None or not user.is_authenticated:
            raise NotAuthenticated()
        # Before the checks: a refusal is audited with the key too.
        request_context.note(user_id=user.pk, api_key_id=api_key.pk if api_key is not None else None)
        try:
            membership = membership_for_caller(
                user=user,
                org_slug=org_slug,
                api_key=api_key,
                key_membership=caller_cache.membership_for if kept else None,
            )
        except NotFound:
            denials.record_refusal(attempt=_chat_attempt(user, 404, NotFound.code), org=None, org_slug=org_slug)
            raise
        if not (role_has(membership.role, Perm.CHAT) and key_allows(api_key, Perm.CHAT)):
            denials.record_refusal(
                attempt=_chat_attempt(user, 403, ChatNotAllowed.code), org=membership.org, org_slug=None
            )
            raise ChatNotAllowed()
        request_context.note(org_id=membership.org_id)
        return ChatCaller(membership=membership, api_key=api_key)


def _chat_attempt(user: User, status: int, code: str) -> denials.Attempt:
    return denials.Attempt(actor=user, route="chat", method="", status=status, code=code)
