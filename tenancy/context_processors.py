"""What every page's frame shows: the caller's organisations and the one the URL is in."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tenancy.models import Membership
from tenancy.permissions import Perm, role_has


def organisations(request: HttpRequest) -> dict[str, Any]:
    """Lazily, so pages that never show the switcher (the admin, errors) run no query."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    match = getattr(request, "resolver_match", None)
    slug = match.kwargs.get("org_slug") if match else None

    def memberships() -> list[Membership]:
        return list(Membership.objects.filter(user=request.user).select_related("org").order_by("org__name"))

    def current() -> Membership | None:
        return next((m for m in switcher if m.org.slug == slug), None)

    def may(perm: Perm) -> Any:
        def check() -> bool:  # templates call it only where the nav needs it
            membership = current()
            return membership is not None and role_has(membership.role, perm)

        return check

    switcher = SimpleLazyObject(memberships)
    return {
        "org_memberships": switcher,
        "current_membership": SimpleLazyObject(current),
        "may_manage_members": may(Perm.MEMBERS_MANAGE),
        "may_read_audit": may(Perm.AUDIT_VIEW),
        "may_manage_org": may(Perm.ORG_MANAGE),
    }
