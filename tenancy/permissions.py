"""The role → permission matrix (docs/rbac.md is generated from it) and API-key scopes.

A request is allowed when the caller's role in the URL's organisation grants the action's
permission and, for an API key, the key's scopes include that permission's scope.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from tenancy.models import ApiKey, Role

if TYPE_CHECKING:
    from rest_framework.request import Request


class Perm(StrEnum):
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    TEAMS_VIEW = "teams.view"
    TEAMS_MANAGE = "teams.manage"
    API_KEYS_OWN = "api_keys.own"
    API_KEYS_MANAGE = "api_keys.manage"
    PRESETS_READ = "presets.read"
    PRESETS_WRITE = "presets.write"
    PRESETS_APPROVE = "presets.approve"
    CHAT = "chat"
    AUDIT_VIEW = "audit.view"
    AUDIT_RETENTION = "audit.retention"
    USAGE_READ = "usage.read"


class Scope(StrEnum):
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    PRESETS_READ = "presets:read"
    PRESETS_WRITE = "presets:write"
    CHAT = "chat"
    AUDIT_READ = "audit:read"
    USAGE_READ = "usage:read"


_READ = {Perm.ORG_VIEW, Perm.MEMBERS_VIEW, Perm.TEAMS_VIEW, Perm.API_KEYS_OWN, Perm.PRESETS_READ}
_MEMBER = _READ | {Perm.PRESETS_WRITE, Perm.CHAT}
_APPROVER = _MEMBER | {Perm.PRESETS_APPROVE}
_ADMIN = _APPROVER | {
    Perm.ORG_MANAGE,
    Perm.MEMBERS_MANAGE,
    Perm.TEAMS_MANAGE,
    Perm.API_KEYS_MANAGE,
    Perm.AUDIT_VIEW,
    Perm.USAGE_READ,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.VIEWER: frozenset(_READ),
    Role.MEMBER: frozenset(_MEMBER),
    Role.APPROVER: frozenset(_APPROVER),
    Role.ADMIN: frozenset(_ADMIN),
    # Owners differ from admins in the services (only an owner grants or removes the owner role)
    # and in how long the organisation's audit trail is kept: what the trail keeps is the owner's call.
    Role.OWNER: frozenset(_ADMIN | {Perm.AUDIT_RETENTION}),
}

PERMISSION_SCOPE: dict[Perm, Scope] = {
    Perm.ORG_VIEW: Scope.ORG_READ,
    Perm.ORG_MANAGE: Scope.ORG_WRITE,
    Perm.MEMBERS_VIEW: Scope.ORG_READ,
    Perm.MEMBERS_MANAGE: Scope.ORG_WRITE,
    Perm.TEAMS_VIEW: Scope.ORG_READ,
    Perm.TEAMS_MANAGE: Scope.ORG_WRITE,
    Perm.API_KEYS_OWN: Scope.ORG_WRITE,
    Perm.API_KEYS_MANAGE: Scope.ORG_WRITE,
    Perm.PRESETS_READ: Scope.PRESETS_READ,
    Perm.PRESETS_WRITE: Scope.PRESETS_WRITE,
    Perm.PRESETS_APPROVE: Scope.PRESETS_WRITE,
    Perm.CHAT: Scope.CHAT,
    Perm.AUDIT_VIEW: Scope.AUDIT_READ,
    Perm.AUDIT_RETENTION: Scope.ORG_WRITE,
    Perm.USAGE_READ: Scope.USAGE_READ,
}


def role_has(role: str, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(Role(role), frozenset())


def key_allows(api_key: ApiKey | None, perm: Perm) -> bool:
    """Session callers have no scopes to check; a key must carry the permission's scope."""
    return api_key is None or PERMISSION_SCOPE[perm] in api_key.scopes


def caller_has(request: Request, role: str, perm: Perm) -> bool:
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    return role_has(role, perm) and key_allows(api_key, perm)


class TenantRolePermission(BasePermission):
    """Grants the view action's permission (`view.action_permissions`) by role and key scope."""

    message = "Your role or API key scope does not allow this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        if view.action is None:
            return True  # no handler for this method: the view answers 405 and does nothing
        if view.action == "metadata":
            return True  # OPTIONS describes the route to any member (checked before this) and changes nothing
        return caller_has(request, view.membership.role, required_permission(view))


def required_permission(view: Any) -> Perm:
    try:
        return view.action_permissions[view.action]
    except KeyError:
        raise ImproperlyConfigured(f"{type(view).__name__} declares no permission for action {view.action!r}") from None
