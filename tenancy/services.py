"""Writes for tenancy. Each change is audited in its own transaction.

Rules a reader could not guess from the role matrix live here: only an owner grants, changes
or removes the owner role, and an organisation always keeps at least one owner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from chatpresets import audit_sink as audit
from chatpresets.errors import AlreadyExists, Forbidden, InvalidInput, LastOwner
from tenancy import api_keys, caller_cache, org_settings
from tenancy.models import ApiKey, Membership, Organization, Role, Team, TeamMembership, User


@transaction.atomic
def organization_create(*, actor: User, name: str, slug: str) -> Organization:
    """The creator becomes the organisation's first owner."""
    if Organization.objects.filter(slug=slug).exists():
        raise AlreadyExists("An organisation with this slug exists.", details={"field": "slug"})
    org = Organization.objects.create(name=name, slug=slug)
    Membership.objects.create(org=org, user=actor, role=Role.OWNER)
    audit.record(org=org, actor=actor, action="org.created", target=org, payload={"name": name, "slug": slug})
    return org


@transaction.atomic
def organization_update(*, org: Organization, actor: User, **changes: Any) -> Organization:
    """Settings must fit their schema, and limits may only be tightened: raising them is the operator's."""
    if "settings" in changes:
        org_settings.validate_tightening(changes["settings"], plan=org.plan, current=org.settings)
    before = {field: getattr(org, field) for field in changes}
    for field, value in changes.items():
        setattr(org, field, value)
    org.full_clean()
    org.save()
    audit.record(org=org, actor=actor, action="org.updated", target=org, payload=audit.changes(before, changes))
    return org


def _actor_role(org: Organization, actor: User) -> str:
    return Membership.objects.for_org(org).get(user=actor).role


def _ensure_may_touch_owner(*, org: Organization, actor: User, roles: set[str]) -> None:
    """Platform staff (the admin console) may; inside an organisation only its owners may."""
    if actor.is_staff and not Membership.objects.for_org(org).filter(user=actor).exists():
        return
    if Role.OWNER in roles and _actor_role(org, actor) != Role.OWNER:
        raise Forbidden("Only an owner can grant, change or remove the owner role.")


def _ensure_owner_remains(*, org: Organization, leaving: Membership) -> None:
    """Called with the organisation row locked, so two owners cannot demote each other at once."""
    if leaving.role != Role.OWNER:
        return
    if not Membership.objects.for_org(org).filter(role=Role.OWNER).exclude(pk=leaving.pk).exists():
        raise LastOwner()


def _lock(org: Organization) -> None:
    Organization.objects.select_for_update().filter(pk=org.pk).first()


@transaction.atomic
def member_add(*, org: Organization, actor: User, user: User, role: str) -> Membership:
    _ensure_may_touch_owner(org=org, actor=actor, roles={role})
    if Membership.objects.for_org(org).filter(user=user).exists():
        raise AlreadyExists("That user is already a member.", details={"field": "user"})
    membership = Membership.objects.create(org=org, user=user, role=role)
    audit.record(
        org=org, actor=actor, action="member.added", target=membership, payload={"user": user.username, "role": role}
    )
    return membership


@transaction.atomic
def member_change_role(*, membership: Membership, actor: User, role: str) -> Membership:
    org = membership.org
    _lock(org)
    membership.refresh_from_db()
    if membership.role == role:
        return membership
    _ensure_may_touch_owner(org=org, actor=actor, roles={membership.role, role})
    if role != Role.OWNER:
        _ensure_owner_remains(org=org, leaving=membership)
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit.record(
        org=org,
        actor=actor,
        action="member.role_changed",
        target=membership,
        payload={"user": membership.user.username, "role": {"before": before, "after": role}},
    )
    return membership


@transaction.atomic
def member_remove(*, membership: Membership, actor: User) -> None:
    """Leaving an organisation also leaves its teams and revokes the member's keys there."""
    org = membership.org
    _lock(org)
    membership.refresh_from_db()
    _ensure_may_touch_owner(org=org, actor=actor, roles={membership.role})
    _ensure_owner_remains(org=org, leaving=membership)
    user = membership.user
    for team_membership in TeamMembership.objects.for_org(org).filter(user=user).select_related("team__group"):
        team_membership.delete()
    revoked = ApiKey.objects.for_org(org).active().filter(user=user).update(revoked_at=timezone.now())
    caller_cache.changed(org.pk)  # an update() sends no signal
    audit.record(
        org=org,
        actor=actor,
        action="member.removed",
        target=membership,
        payload={"user": user.username, "role": membership.role, "api_keys_revoked": revoked},
    )
    membership.delete()


@transaction.atomic
def team_create(*, org: Organization, actor: User, name: str, slug: str, description: str = "") -> Team:
    if Team.objects.for_org(org).filter(slug=slug).exists():
        raise AlreadyExists("A team with this slug exists.", details={"field": "slug"})
    team = Team.objects.create(org=org, name=name, slug=slug, description=description)
    audit.record(org=org, actor=actor, action="team.created", target=team, payload={"name": name, "slug": slug})
    return team


@transaction.atomic
def team_update(*, team: Team, actor: User, **changes: Any) -> Team:
    if "slug" in changes and Team.objects.for_org(team.org).filter(slug=changes["slug"]).exclude(pk=team.pk).exists():
        raise AlreadyExists("A team with this slug exists.", details={"field": "slug"})
    before = {field: getattr(team, field) for field in changes}
    for field, value in changes.items():
        setattr(team, field, value)
    team.save()
    audit.record(org=team.org, actor=actor, action="team.updated", target=team, payload=audit.changes(before, changes))
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: User) -> None:
    audit.record(org=team.org, actor=actor, action="team.deleted", target=team, payload={"slug": team.slug})
    group = team.group
    team.delete()
    group.delete()


@transaction.atomic
def team_member_add(*, team: Team, actor: User, user: User, is_lead: bool = False) -> TeamMembership:
    """Only members of the team's organisation can join it (its Django group follows by signal)."""
    if not Membership.objects.for_org(team.org).filter(user=user).exists():
        raise InvalidInput("That user is not a member of this organisation.", details={"field": "user"})
    try:
        with transaction.atomic():
            team_membership = TeamMembership.objects.create(org=team.org, team=team, user=user, is_lead=is_lead)
    except IntegrityError:
        raise AlreadyExists("That user is already in the team.", details={"field": "user"}) from None
    audit.record(
        org=team.org,
        actor=actor,
        action="team.member_added",
        target=team,
        payload={"user": user.username, "is_lead": is_lead},
    )
    return team_membership


@transaction.atomic
def team_member_update(*, team_membership: TeamMembership, actor: User, is_lead: bool) -> TeamMembership:
    before = team_membership.is_lead
    team_membership.is_lead = is_lead
    team_membership.save(update_fields=["is_lead"])
    audit.record(
        org=team_membership.org,
        actor=actor,
        action="team.member_updated",
        target=team_membership.team,
        payload={"user": team_membership.user.username, "is_lead": {"before": before, "after": is_lead}},
    )
    return team_membership


@transaction.atomic
def team_member_remove(*, team_membership: TeamMembership, actor: User) -> None:
    team = team_membership.team
    audit.record(
        org=team.org,
        actor=actor,
        action="team.member_removed",
        target=team,
        payload={"user": team_membership.user.username},
    )
    team_membership.delete()


@transaction.atomic
def api_key_create(
    *, org: Organization, actor: User, name: str, scopes: list[str], expires_at: datetime | None
) -> tuple[ApiKey, str]:
    """Returns the key and its secret; the secret is never stored and cannot be shown again."""
    minted = api_keys.mint()
    api_key = ApiKey.objects.create(
        org=org,
        user=actor,
        name=name,
        prefix=minted.prefix,
        secret_hash=minted.secret_hash,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    audit.record(
        org=org,
        actor=actor,
        action="api_key.created",
        target=api_key,
        payload={"name": name, "prefix": minted.prefix, "scopes": api_key.scopes, "expires_at": expires_at},
    )
    return api_key, minted.secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit.record(
            org=api_key.org,
            actor=actor,
            action="api_key.revoked",
            target=api_key,
            payload={"name": api_key.name, "prefix": api_key.prefix, "owner": api_key.user.username},
        )
    return api_key
