"""Libraries: named, ordered collections of presets.

Personal libraries belong to their owner; team libraries are managed by the team's leads and
org admins and seen by the team; the organisation's curated library is managed by admins and
seen by every member. A library shows each reader only the presets that reader can see.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from audit import services as audit
from chatpresets.errors import Forbidden, InvalidInput
from presets.models import Library, LibraryItem, LibraryKind, Preset
from tenancy.models import Membership, Role, Team, TeamMembership

MANAGERS = {Role.OWNER, Role.ADMIN}


def libraries_visible(*, membership: Membership) -> QuerySet[Library]:
    teams = TeamMembership.objects.filter(user_id=membership.user_id).values("team_id")
    visible = (
        Q(kind=LibraryKind.PERSONAL, owner_id=membership.user_id)
        | Q(kind=LibraryKind.TEAM, team_id__in=teams)
        | Q(kind=LibraryKind.ORG)
    )
    if membership.role in MANAGERS:
        visible |= Q(kind=LibraryKind.TEAM)
    return Library.objects.for_org(membership.org).filter(visible)


def may_manage(*, library_kind: str, team: Team | None, owner_id: int | None, membership: Membership) -> bool:
    if membership.role in MANAGERS and library_kind != LibraryKind.PERSONAL:
        return True
    if library_kind == LibraryKind.PERSONAL:
        return owner_id == membership.user_id
    if library_kind == LibraryKind.TEAM and team is not None:
        return TeamMembership.objects.filter(team=team, user_id=membership.user_id, is_lead=True).exists()
    return False


def _ensure_manager(library: Library, membership: Membership) -> None:
    if not may_manage(library_kind=library.kind, team=library.team, owner_id=library.owner_id, membership=membership):
        raise Forbidden("You cannot manage this library.")


@transaction.atomic
def library_create(
    *, membership: Membership, name: str, kind: str, team: Team | None, description: str = ""
) -> Library:
    if (kind == LibraryKind.TEAM) != (team is not None) or (team is not None and team.org_id != membership.org_id):
        raise InvalidInput("A team library needs a team of this organisation, and only it.", details={"field": "team"})
    if not may_manage(library_kind=kind, team=team, owner_id=membership.user_id, membership=membership):
        raise Forbidden("You cannot create this kind of library.")
    library = Library.objects.create(
        org=membership.org, name=name, kind=kind, team=team, owner=membership.user, description=description
    )
    audit.record(
        org=membership.org,
        actor=membership.user,
        action="library.created",
        target=library,
        payload={"name": name, "kind": kind},
    )
    return library


@transaction.atomic
def library_update(*, library: Library, membership: Membership, **changes: Any) -> Library:
    _ensure_manager(library, membership)
    before = {field: getattr(library, field) for field in changes}
    for field, value in changes.items():
        setattr(library, field, value)
    library.save()
    audit.record(
        org=library.org,
        actor=membership.user,
        action="library.updated",
        target=library,
        payload=audit.changes(before, changes),
    )
    return library


@transaction.atomic
def library_delete(*, library: Library, membership: Membership) -> None:
    _ensure_manager(library, membership)
    audit.record(
        org=library.org, actor=membership.user, action="library.deleted", target=library, payload={"name": library.name}
    )
    library.delete()


@transaction.atomic
def library_set_items(*, library: Library, membership: Membership, presets: list[Preset]) -> list[LibraryItem]:
    """Replace the library's contents with these presets, in this order."""
    _ensure_manager(library, membership)
    if len({p.pk for p in presets}) != len(presets):
        raise InvalidInput("A preset appears twice.", details={"field": "presets"})
    LibraryItem.objects.filter(library=library).delete()
    items = LibraryItem.objects.bulk_create(
        LibraryItem(org=library.org, library=library, preset=preset, position=index)
        for index, preset in enumerate(presets)
    )
    audit.record(
        org=library.org,
        actor=membership.user,
        action="library.items_set",
        target=library,
        payload={"presets": [str(p.pk) for p in presets]},
    )
    return items


def library_presets(*, library: Library, visible: QuerySet[Preset]) -> list[Preset]:
    """The library's presets in order, limited to those the reader can see."""
    order = list(LibraryItem.objects.filter(library=library).values_list("preset_id", flat=True))
    by_id = {p.pk: p for p in visible.filter(pk__in=order)}
    return [by_id[pk] for pk in order if pk in by_id]
