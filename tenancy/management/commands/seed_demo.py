"""Demo data: Acme (alice owner, bob member) and Globex (carol member), with teams and a staff user.

Running it again is safe: it keeps existing rows and sets fresh passwords, which it prints.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from tenancy.models import Membership, Organization, Plan, Role, Team, TeamMembership, User

ORGS = {"acme": ("Acme", Plan.TEAM), "globex": ("Globex", Plan.FREE)}
PEOPLE = [
    # username, organisation, role, teams (slug, is_lead)
    ("alice", "acme", Role.OWNER, [("engineering", True), ("support", False)]),
    ("bob", "acme", Role.MEMBER, [("engineering", False)]),
    ("carol", "globex", Role.MEMBER, [("research", False)]),
]
TEAMS = {"acme": [("engineering", "Engineering"), ("support", "Support")], "globex": [("research", "Research")]}


class Command(BaseCommand):
    help = "Create the demo organisations, teams and users, and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        passwords = self.seed()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Sign in at {_address()} with:"))
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<8} {password}")

    @transaction.atomic
    def seed(self) -> dict[str, str]:
        orgs = {
            slug: Organization.objects.get_or_create(slug=slug, defaults={"name": name, "plan": plan})[0]
            for slug, (name, plan) in ORGS.items()
        }
        teams = {
            (org_slug, slug): Team.objects.get_or_create(org=orgs[org_slug], slug=slug, defaults={"name": name})[0]
            for org_slug, entries in TEAMS.items()
            for slug, name in entries
        }
        passwords = {"admin": self.user("admin", staff=True)}
        for username, org_slug, role, team_entries in PEOPLE:
            passwords[username] = self.user(username)
            user = User.objects.get(username=username)
            Membership.objects.update_or_create(org=orgs[org_slug], user=user, defaults={"role": role})
            for team_slug, is_lead in team_entries:
                team = teams[(org_slug, team_slug)]
                TeamMembership.objects.update_or_create(
                    org=team.org, team=team, user=user, defaults={"is_lead": is_lead}
                )
        return passwords

    def user(self, username: str, *, staff: bool = False) -> str:
        password = os.environ.get("DEMO_PASSWORD") or secrets.token_urlsafe(9)
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.is_staff = user.is_superuser = staff
        user.set_password(password)
        user.save()
        return password


def _address() -> str:
    """Where `bin/run` serves (HOST and PORT), so the printed address is the one to open."""
    return f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/"
