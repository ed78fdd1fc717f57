"""Why a share link no longer opens, told only to someone the link was meant for.

`sharing.link_open` answers every closed link with the same 404. The landing page says more
(revoked, expired, used up) when the caller is in the link's audience and its preset is alive:
they hold the token, and the state of the link is all they learn. Any other token stays a 404.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from presets.models import Audience, PresetLink
from presets.services.sharing import hash_token
from tenancy.models import Membership, User


def link_state(link: PresetLink, *, now: datetime | None = None) -> str:
    """ "active", "revoked", "expired" or "used_up" (revocation first: it was somebody's decision)."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at is not None and link.expires_at <= now:
        return "expired"
    if link.max_uses is not None and link.uses >= link.max_uses:
        return "used_up"
    return "active"


def closed_link(*, token: str, user: User) -> PresetLink | None:
    """The link behind `token` when it is closed and the caller may be told so; otherwise None."""
    link = PresetLink.objects.select_related("preset", "org").filter(token_hash=hash_token(token)).first()
    if link is None or link.preset.deleted_at is not None:
        return None
    if link.audience == Audience.ORG and not Membership.objects.for_org(link.org).filter(user=user).exists():
        return None
    return link if link_state(link) != "active" else None
