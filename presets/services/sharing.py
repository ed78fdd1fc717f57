"""Grants to people and teams (django-guardian object permissions) and share links.

A principal holds at most one grant level on a preset; granting replaces the previous level.
Link tokens carry 192 random bits and are stored as SHA-256 hashes only.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit import services as audit
from chatpresets.errors import InvalidInput, NotFound
from presets.models import (
    LEVEL_PERMISSION,
    Level,
    Preset,
    PresetGroupObjectPermission,
    PresetLink,
    PresetLinkUse,
    PresetUserObjectPermission,
)
from presets.outside import in_audience
from tenancy.models import Membership, Team, User


@dataclass(frozen=True)
class Share:
    kind: str  # "user" or "team"
    principal_id: str
    name: str
    level: Level

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.principal_id}"


LEVEL_ORDER = [Level.USE, Level.VIEW, Level.EDIT]
PERMISSION_LEVEL = {codename: level for level, codename in LEVEL_PERMISSION.items()}


def shares_of(preset: Preset) -> list[Share]:
    levels: dict[tuple[str, str, str], Level] = {}
    for user_id, username, codename in PresetUserObjectPermission.objects.filter(content_object=preset).values_list(
        "user_id", "user__username", "permission__codename"
    ):
        _keep_highest(levels, ("user", str(user_id), username), PERMISSION_LEVEL.get(codename))
    for team_id, team_slug, codename in PresetGroupObjectPermission.objects.filter(content_object=preset).values_list(
        "group__team__id", "group__team__slug", "permission__codename"
    ):
        _keep_highest(levels, ("team", str(team_id), team_slug), PERMISSION_LEVEL.get(codename))
    ordered = sorted(levels.items(), key=lambda item: (item[0][0], item[0][2]))  # by kind, then name
    return [Share(kind, pid, name, level) for (kind, pid, name), level in ordered]


def _keep_highest(levels: dict, key: tuple[str, str, str], level: Level | None) -> None:
    if level is not None and (key not in levels or LEVEL_ORDER.index(level) > LEVEL_ORDER.index(levels[key])):
        levels[key] = level


def _clear(preset: Preset, *, user: User | None, group: Group | None) -> int:
    if user is not None:
        return PresetUserObjectPermission.objects.filter(content_object=preset, user=user).delete()[0]
    return PresetGroupObjectPermission.objects.filter(content_object=preset, group=group).delete()[0]


@transaction.atomic
def share_grant(
    *, preset: Preset, actor: User, level: str, user: User | None = None, team: Team | None = None
) -> Share:
    """Grant one level to a member or a team of the preset's organisation."""
    if (user is None) == (team is None):
        raise InvalidInput("Share with exactly one of user or team.", details={"field": "user"})
    if user is not None and not Membership.objects.for_org(preset.org).filter(user=user).exists():
        raise InvalidInput("That user is not a member of this organisation.", details={"field": "user"})
    if team is not None and team.org_id != preset.org_id:
        raise InvalidInput("That team is not part of this organisation.", details={"field": "team"})
    group = team.group if team else None
    _clear(preset, user=user, group=group)
    assign_perm(LEVEL_PERMISSION[Level(level)], user or group, preset)
    share = (
        Share("user", str(user.pk), user.username, Level(level))
        if user
        else Share("team", str(team.pk), team.slug, Level(level))
    )
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset.shared",
        target=preset,
        payload={"principal": share.key, "name": share.name, "level": level},
    )
    return share


@transaction.atomic
def share_revoke(*, preset: Preset, actor: User, key: str) -> None:
    kind, _, principal_id = key.partition("-")
    if kind == "user" and principal_id.isdigit():
        removed = _clear(preset, user=User(pk=int(principal_id)), group=None)
    elif kind == "team":
        team = Team.objects.for_org(preset.org).filter(pk=_uuid_or_none(principal_id)).first()
        removed = _clear(preset, user=None, group=team.group) if team else 0
    else:
        removed = 0
    if not removed:
        raise NotFound()
    audit.record(org=preset.org, actor=actor, action="preset.unshared", target=preset, payload={"principal": key})


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def link_create(
    *, preset: Preset, actor: User, level: str, audience: str, expires_at: datetime | None, max_uses: int | None
) -> tuple[PresetLink, str]:
    token = secrets.token_urlsafe(24)
    link = PresetLink.objects.create(
        org=preset.org,
        preset=preset,
        token_hash=hash_token(token),
        level=level,
        audience=audience,
        expires_at=expires_at,
        max_uses=max_uses,
        created_by=actor,
    )
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset_link.created",
        target=link,
        payload={
            "preset": str(preset.pk),
            "level": level,
            "audience": audience,
            "max_uses": max_uses,
            "expires_at": expires_at,
        },
    )
    return link, token


@transaction.atomic
def link_revoke(*, link: PresetLink, actor: User) -> PresetLink:
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit.record(org=link.org, actor=actor, action="preset_link.revoked", target=link)
    return link


@transaction.atomic
def link_open(*, token: str, user: User) -> PresetLink:
    """Open a valid link, counting one use per person (the first time they open it); expired, revoked,
    exhausted or out-of-audience links are 404. A person who already used it keeps it until it expires
    or is revoked, so opening then cloning a one-use link works."""
    link = PresetLink.objects.select_related("preset", "org").filter(token_hash=hash_token(token)).first()
    if link is None or link.preset.deleted_at is not None:
        raise NotFound()
    if not in_audience(link, user):
        raise NotFound()
    live = PresetLink.objects.filter(pk=link.pk, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    if _first_use(link, user):
        counted = live.filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses"))).update(uses=F("uses") + 1)
        if not counted:
            raise NotFound()  # and the whole transaction, the person's use included, rolls back
        link.refresh_from_db(fields=["uses"])
    elif not live.exists():
        raise NotFound()
    audit.record(
        org=link.org,
        actor=user,
        action="preset_link.opened",
        target=link,
        payload={"preset": str(link.preset_id), "uses": link.uses},
    )
    return link


def _first_use(link: PresetLink, user: User) -> bool:
    # The unique constraint decides, so two tabs opening at once still count one use.
    try:
        with transaction.atomic():
            PresetLinkUse.objects.create(link=link, user=user)
    except IntegrityError:
        return False
    return True
