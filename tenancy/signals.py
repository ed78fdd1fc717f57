"""A team's Django group mirrors its members, however they were changed (API or admin)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tenancy.models import TeamMembership


@receiver(post_save, sender=TeamMembership)
def add_to_team_group(sender: type, instance: TeamMembership, created: bool, **kwargs: Any) -> None:
    if created:
        instance.team.group.user_set.add(instance.user_id)


@receiver(post_delete, sender=TeamMembership)
def remove_from_team_group(sender: type, instance: TeamMembership, **kwargs: Any) -> None:
    instance.team.group.user_set.remove(instance.user_id)
