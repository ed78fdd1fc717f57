"""Reads for tenancy: who belongs where, always scoped to the caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet

from chatpresets.errors import InvalidInput, NotFound
from tenancy.models import ApiKey, Membership, Organization, User


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key a presented secret names, with its user and organisation, whatever its state."""
    return ApiKey.objects.select_related("user", "org").filter(prefix=prefix).first()


def membership_for_caller(
    *,
    user: User,
    org_slug: str,
    api_key: ApiKey | None,
    key_membership: Callable[[ApiKey], Membership | None] | None = None,
) -> Membership:
    """The caller's membership in the URL's organisation; anything else is the same 404.

    `key_membership` finds a key caller's membership in the key's organisation another way (a
    process's copy: tenancy/caller_cache.py)."""
    if api_key is not None and api_key.org.slug != org_slug:
        raise NotFound()
    if api_key is not None and key_membership is not None:
        membership = key_membership(api_key)
    else:
        membership = Membership.objects.select_related("org").filter(user=user, org__slug=org_slug).first()
    if membership is None:
        raise NotFound()
    return membership


def membership_to_act_in(*, user: User, org_slug: str | None, api_key: ApiKey | None) -> Membership:
    """The organisation a route outside any organisation acts in (clone into, chat in), named by `org`.

    `org` may be left out when there is only one candidate: a key's own organisation, or a person's
    only one. A slug the caller does not belong to is the same 404 as an unknown one.
    """
    if org_slug is None:
        memberships = Membership.objects.select_related("org").filter(user=user)
        if api_key is not None:
            memberships = memberships.filter(org_id=api_key.org_id)
        chosen = list(memberships[:2])
        if len(chosen) != 1:
            raise InvalidInput(
                "Name the organisation to act in with `org` (one you belong to).", details={"field": "org"}
            )
        return chosen[0]
    return membership_for_caller(user=user, org_slug=org_slug, api_key=api_key)


def organizations_for_caller(*, user: User, api_key: ApiKey | None) -> QuerySet[Organization]:
    """A key sees only its own organisation; a signed-in user sees every organisation they joined."""
    queryset = Organization.objects.filter(pk__in=Membership.objects.filter(user=user).values("org_id"))
    if api_key is not None:
        queryset = queryset.filter(pk=api_key.org_id)
    return queryset.order_by("name")


def api_keys_visible(*, org: Organization, user: User, sees_all: bool) -> QuerySet[ApiKey]:
    """Key managers see every key of the organisation; everyone else only their own."""
    queryset = ApiKey.objects.for_org(org).select_related("user", "org")
    return queryset if sees_all else queryset.filter(user=user)


def user_by_identifier(identifier: str) -> User | None:
    """Find a user by username or e-mail address (case-insensitive for e-mail)."""
    identifier = identifier.strip()
    if not identifier or "\x00" in identifier:  # PostgreSQL text cannot hold NUL: no user has one
        return None
    return User.objects.filter(Q(username=identifier) | Q(email__iexact=identifier), is_active=True).first()


def active_api_key(*, key_id: Any) -> ApiKey | None:
    """The key as stored now, if it still authenticates: not revoked, not expired, its user active."""
    api_key = ApiKey.objects.select_related("user", "org").filter(pk=key_id).first()
    if api_key is None or not api_key.is_active or not api_key.user.is_active:
        return None
    return api_key


def active_user(*, user_id: Any) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()
