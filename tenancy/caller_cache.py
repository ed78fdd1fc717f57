"""Key callers without two queries on every chat call: each process keeps keys and memberships.

A chat transport resolves its caller on every call (tenancy/chat_caller.py): the key by its prefix,
with its user and organisation, then the user's membership there. Together they cost about as much
CPU as the rest of the call's setup, so each process keeps both, per organisation, under a version
token in the shared cache (chatpresets/version_tokens.py). Every write that can change the answer
replaces the token: a key, a membership or the organisation saved or deleted, a user saved, and the
bulk revocation of a leaving member's keys (tenancy/signals.py, tenancy/services.py). A revocation
therefore takes effect on the next call in every process, as when every call queried.

What depends on the moment or on the request runs on every call as before: the secret's hash, the
key's expiry, the lockout of the address, the role and scope checks. Callers get copies, so nothing
a request sets on them reaches another request.

Fail safe: while the cache cannot be read every call queries. A write made without a signal (a
queryset `update()` outside the services) is seen once a copy is a minute old.
"""

from __future__ import annotations

import threading
from typing import Any

from chatpresets.version_tokens import OrgCopies
from tenancy.models import ApiKey, Membership
from tenancy.selectors import api_key_by_prefix

MAX_PREFIXES = 100_000

COPIES = OrgCopies("key-callers", what="key callers")
_org_of_prefix: dict[str, Any] = {}  # a key never moves to another organisation
_lock = threading.Lock()
_MEMBERSHIP = "_kept_membership"
_NONE: Any = object()


def key_for_prefix(prefix: str) -> ApiKey | None:
    """The key with this prefix as stored, its user and organisation loaded (a copy), or None."""
    org_id = _org_of_prefix.get(prefix)
    if org_id is not None:
        held = COPIES.at(org_id)
        api_key = held.get(("key", prefix), lambda: api_key_by_prefix(prefix))
        if api_key is not None:  # its membership under the same read of the token, for `membership_for`
            api_key.__dict__[_MEMBERSHIP] = held.get(("member", api_key.user_id), lambda: _membership(api_key))
        return api_key
    api_key = api_key_by_prefix(prefix)
    if api_key is not None:
        with _lock:
            if len(_org_of_prefix) >= MAX_PREFIXES:
                _org_of_prefix.clear()
            _org_of_prefix[prefix] = api_key.org_id
    return api_key


def membership_for(api_key: ApiKey) -> Membership | None:
    """The key's user's membership in the key's organisation, that organisation loaded (a copy), or None."""
    membership = api_key.__dict__.pop(_MEMBERSHIP, _NONE)  # once: a key object kept longer ages
    if membership is not _NONE:
        return membership
    return COPIES.get(api_key.org_id, ("member", api_key.user_id), lambda: _membership(api_key))


def changed(org_id: Any) -> None:
    """A key, membership or the organisation itself changed: every process reads its callers afresh."""
    COPIES.changed(org_id)


def forget_local() -> None:
    """Drop this process's copies (tests; the versions in the cache stay)."""
    COPIES.forget_local()
    with _lock:
        _org_of_prefix.clear()


def _membership(api_key: ApiKey) -> Membership | None:
    return Membership.objects.select_related("org").filter(user_id=api_key.user_id, org_id=api_key.org_id).first()
