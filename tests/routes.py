"""Every tenant route, with a ready-made call and the roles the docs say may make it.

The role matrix and isolation tests both walk this catalogue, and test_isolation fails when a
URL pattern with an organisation in it is missing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenancy.models import ApiKey, Membership, Organization, Role, Team, User
from tests.factories import MembershipFactory, TeamFactory, TeamMembershipFactory, UserFactory

ALL_ROLES = frozenset(Role.values)
ADMINS = frozenset({Role.OWNER, Role.ADMIN})


@dataclass
class World:
    """Objects of one organisation that a call can address."""

    org: Organization
    caller: User
    target: Membership
    team: Team
    spare: User
    outsider: User
    own_key: ApiKey


def build_world(org: Organization, caller: User) -> World:
    from tenancy import services

    target_user = UserFactory()
    target = MembershipFactory(org=org, user=target_user, role=Role.MEMBER)
    team = TeamFactory(org=org)
    TeamMembershipFactory(team=team, user=target_user)
    spare = MembershipFactory(org=org, role=Role.MEMBER).user
    own_key, _ = services.api_key_create(org=org, actor=caller, name="own", scopes=["org:read"], expires_at=None)
    return World(org=org, caller=caller, target=target, team=team, spare=spare, outsider=UserFactory(), own_key=own_key)


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    kwargs: Callable[[World], dict[str, Any]]
    allowed: frozenset[str]
    body: Callable[[World], dict[str, Any]] | None = None
    addresses_object: bool = field(default=False)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}"


def org(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug}


def member(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.target.pk}


def team(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.team.pk}


def team_members(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "team_id": w.team.pk}


def team_member(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "team_id": w.team.pk, "user_id": w.target.user_id}


def api_key(w: World) -> dict[str, Any]:
    return {"org_slug": w.org.slug, "pk": w.own_key.pk}


CALLS: list[Call] = [
    Call("org-detail", "get", org, ALL_ROLES),
    Call("org-detail", "patch", org, ADMINS, body=lambda w: {"name": "Renamed"}),
    Call("member-list", "get", org, ALL_ROLES),
    Call("member-list", "post", org, ADMINS, body=lambda w: {"user": w.outsider.username, "role": "member"}),
    Call("member-detail", "get", member, ALL_ROLES, addresses_object=True),
    Call("member-detail", "patch", member, ADMINS, body=lambda w: {"role": "viewer"}, addresses_object=True),
    Call("member-detail", "delete", member, ADMINS, addresses_object=True),
    Call("team-list", "get", org, ALL_ROLES),
    Call("team-list", "post", org, ADMINS, body=lambda w: {"name": "New team", "slug": "new-team"}),
    Call("team-detail", "get", team, ALL_ROLES, addresses_object=True),
    Call("team-detail", "patch", team, ADMINS, body=lambda w: {"description": "changed"}, addresses_object=True),
    Call("team-detail", "delete", team, ADMINS, addresses_object=True),
    Call("team-member-list", "get", team_members, ALL_ROLES, addresses_object=True),
    Call(
        "team-member-list",
        "post",
        team_members,
        ADMINS,
        body=lambda w: {"user": w.spare.username},
        addresses_object=True,
    ),
    Call("team-member-detail", "get", team_member, ALL_ROLES, addresses_object=True),
    Call("team-member-detail", "patch", team_member, ADMINS, body=lambda w: {"is_lead": True}, addresses_object=True),
    Call("team-member-detail", "delete", team_member, ADMINS, addresses_object=True),
    Call("api-key-list", "get", org, ALL_ROLES),
    Call("api-key-list", "post", org, ALL_ROLES, body=lambda w: {"name": "k", "scopes": ["org:read"]}),
    Call("api-key-detail", "get", api_key, ALL_ROLES, addresses_object=True),
    Call("api-key-detail", "delete", api_key, ALL_ROLES, addresses_object=True),
    Call("org-home", "get", org, ALL_ROLES),
]

ROUTE_NAMES = {call.name for call in CALLS}
