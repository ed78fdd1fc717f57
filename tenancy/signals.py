"""Receivers that follow tenancy rows however they were changed (API, admin or shell).

A team's Django group mirrors its members. Open websockets hear when the key, membership or
user they rest on changes (tenancy/access.py), so a revocation stops them at once. Every process
hears when an organisation's limit overrides may apply differently (metering/override_cache.py),
and when its key callers may (caller_cache.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenancy import access, caller_cache
from tenancy.metering import override_cache
from tenancy.models import ApiKey, LimitOverride, Membership, Organization, Team, TeamMembership, User


@receiver(post_save, sender=TeamMembership)
def add_to_team_group(sender: type, instance: TeamMembership, created: bool, **kwargs: Any) -> None:
    if created:
        instance.team.group.user_set.add(instance.user_id)


@receiver(post_delete, sender=TeamMembership)
def remove_from_team_group(sender: type, instance: TeamMembership, **kwargs: Any) -> None:
    instance.team.group.user_set.remove(instance.user_id)


@receiver(post_save, sender=ApiKey)
def announce_key_change(sender: type, instance: ApiKey, created: bool, **kwargs: Any) -> None:
    """Revoked, re-scoped or given another expiry: sockets on this key re-check it."""
    if not created:
        access.announce_after_commit(access.key_group(instance.pk), reason="api_key.changed")


@receiver(post_save, sender=Membership)
def announce_role_change(sender: type, instance: Membership, created: bool, **kwargs: Any) -> None:
    if not created:
        access.announce_after_commit(access.member_group(instance.org_id, instance.user_id), reason="member.changed")


@receiver(post_delete, sender=Membership)
def announce_member_removal(sender: type, instance: Membership, **kwargs: Any) -> None:
    access.announce_after_commit(access.member_group(instance.org_id, instance.user_id), reason="member.removed")


@receiver(post_save, sender=User)
def announce_user_deactivation(sender: type, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        access.announce_after_commit(access.user_group(instance.pk), reason="user.deactivated")


@receiver(post_save, sender=LimitOverride)
@receiver(post_delete, sender=LimitOverride)
@receiver(post_save, sender=Team)  # a slug names the team's limit in refusals
@receiver(post_delete, sender=Team)
@receiver(post_save, sender=TeamMembership)
@receiver(post_delete, sender=TeamMembership)
@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def limit_overrides_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    override_cache.changed(instance.org_id)


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def key_callers_changed(sender: type, instance: ApiKey | Membership, **kwargs: Any) -> None:
    caller_cache.changed(instance.org_id)


@receiver(post_save, sender=Organization)  # its slug, plan and settings travel with a kept caller
@receiver(post_delete, sender=Organization)
def organisation_changed(sender: type, instance: Organization, **kwargs: Any) -> None:
    caller_cache.changed(instance.pk)


@receiver(post_save, sender=User)  # deactivated or back: a kept key carries its user
def user_changed(sender: type, instance: User, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    if not created and update_fields != frozenset({"last_login"}):  # not on every sign-in
        for org_id in Membership.objects.filter(user_id=instance.pk).values_list("org_id", flat=True):
            caller_cache.changed(org_id)
