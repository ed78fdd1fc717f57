"""Reads for presets: who sees what, at which level, and the immutable content of each version.

Visibility inside an organisation (everything else is 404):
- the owner sees their preset; org owners and admins see every non-private preset;
- team members see their teams' presets (team leads may edit them);
- every member sees approved org- and public-scope presets; approvers see all of them;
- django-guardian object grants to the user or their teams' groups add `use`, `view` or `edit`.
Model-level (global) permissions are never consulted, so they cannot widen any of this.
"""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum
from typing import Any

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Lookup, Q, QuerySet

from chatpresets.cache_outage import BREAKER, CACHE_ERRORS
from chatpresets.errors import NotFound
from presets.diff import unified_diff
from presets.models import (
    CONTENT_FIELDS,
    LEVEL_PERMISSION,
    Level,
    Preset,
    PresetGroupObjectPermission,
    PresetUserObjectPermission,
    PresetVersion,
    Scope,
    Status,
)
from tenancy.models import Membership, Role, TeamMembership

MANAGERS = {Role.OWNER, Role.ADMIN}
REVIEWERS = {Role.OWNER, Role.ADMIN, Role.APPROVER}


class Access(IntEnum):
    NONE = 0
    USE = 1
    VIEW = 2
    EDIT = 3
    MANAGE = 4


GRANT_ACCESS = {"use_preset": Access.USE, "view_preset": Access.VIEW, "change_preset": Access.EDIT}


def _team_ids(membership: Membership) -> QuerySet:
    return TeamMembership.objects.for_org(membership.org).filter(user_id=membership.user_id).values("team_id")


class _AnyOf(Lookup):
    lookup_name = "any_of"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def _one_of(field: str, subquery: QuerySet, *, indexable: bool) -> Q:
    """`field` is among the subquery's values; `indexable` spells it `= ANY(ARRAY(subquery))` on PostgreSQL.

    That form runs the subquery once, as an InitPlan, and stays an index condition, so the planner
    can OR the visibility rules' indexes together (a BitmapOr) and read only visible rows. Search
    wants that: it must rank every visible match. A plain list does not: there the planner would
    then fetch and sort every visible row, where walking the updated_at index stops after one page.
    """
    if indexable and connection.vendor == "postgresql":
        return Q(_AnyOf(F(field), ArraySubquery(subquery)))
    return Q(**{f"{field}__in": subquery})


def _granted_ids(membership: Membership, *, indexable: bool) -> Q:
    codenames = list(LEVEL_PERMISSION.values())
    by_user = PresetUserObjectPermission.objects.filter(
        user_id=membership.user_id, permission__codename__in=codenames
    ).values("content_object_id")
    by_team = PresetGroupObjectPermission.objects.filter(
        group__team__in=_team_ids(membership), permission__codename__in=codenames
    ).values("content_object_id")
    return _one_of("pk", by_user, indexable=indexable) | _one_of("pk", by_team, indexable=indexable)


def visibility_q(membership: Membership, *, indexable: bool = False) -> Q:
    """The presets of the caller's organisation that the caller sees (the rules are in the module docstring)."""
    visible = (
        Q(owner_id=membership.user_id)
        | (Q(scope=Scope.TEAM) & _one_of("team_id", _team_ids(membership), indexable=indexable))
        | Q(scope__in=[Scope.ORG, Scope.PUBLIC], approved_version__isnull=False)
        | _granted_ids(membership, indexable=indexable)
    )
    if membership.role in MANAGERS:
        # Spelled as a list rather than "not private" so that it is an index condition.
        visible |= Q(scope__in=[Scope.TEAM, Scope.ORG, Scope.PUBLIC])
    elif membership.role == Role.APPROVER:
        visible |= Q(scope__in=[Scope.ORG, Scope.PUBLIC])
    return visible


def preset_list_visible(*, membership: Membership) -> QuerySet[Preset]:
    return Preset.objects.for_org(membership.org).alive().filter(visibility_q(membership))


def trash_q(membership: Membership) -> Q:
    """Owners see their own trash; org owners and admins also see trashed non-private presets."""
    visible = Q(owner_id=membership.user_id)
    if membership.role in MANAGERS:
        visible |= ~Q(scope=Scope.PRIVATE)
    return visible


def preset_trash(*, membership: Membership) -> QuerySet[Preset]:
    return Preset.objects.for_org(membership.org).trashed().filter(trash_q(membership))


def preset_access(*, preset: Preset, membership: Membership) -> Access:
    """The caller's level on one preset of their organisation."""
    if preset.org_id != membership.org_id:
        return Access.NONE
    if preset.owner_id == membership.user_id or (membership.role in MANAGERS and preset.scope != Scope.PRIVATE):
        return Access.MANAGE
    level = Access.NONE
    if preset.scope == Scope.TEAM:
        lead = TeamMembership.objects.filter(team_id=preset.team_id, user_id=membership.user_id).values_list(
            "is_lead", flat=True
        )
        if lead:
            level = Access.EDIT if lead[0] else Access.VIEW
    if preset.scope in (Scope.ORG, Scope.PUBLIC) and (
        preset.approved_version is not None or membership.role == Role.APPROVER
    ):
        level = max(level, Access.VIEW)
    return max(level, _granted_level(preset, membership))


def _granted_level(preset: Preset, membership: Membership) -> Access:
    codenames = set(
        PresetUserObjectPermission.objects.filter(content_object=preset, user_id=membership.user_id).values_list(
            "permission__codename", flat=True
        )
    )
    codenames |= set(
        PresetGroupObjectPermission.objects.filter(
            content_object=preset, group__team__in=_team_ids(membership)
        ).values_list("permission__codename", flat=True)
    )
    return max((GRANT_ACCESS[c] for c in codenames if c in GRANT_ACCESS), default=Access.NONE)


def preset_for_caller(*, membership: Membership, preset_id: Any, minimum: Access = Access.USE) -> tuple[Preset, Access]:
    """A live preset of the caller's organisation at the given level, or 404 (never 403)."""
    preset = Preset.objects.for_org(membership.org).alive().filter(pk=preset_id).select_related("team").first()
    access = preset_access(preset=preset, membership=membership) if preset else Access.NONE
    if access < max(minimum, Access.USE):
        raise NotFound()
    return preset, access


def readable_version(preset: Preset, access: Access) -> int | None:
    """Editors read the newest version; everyone else only the approved one, None before approval.

    The one rule for reading a version's content: the detail, clones, share links, the versions
    list and `presets.resolve` all follow it, so a draft is never shown to someone who may not edit.
    """
    if access >= Access.EDIT:
        return preset.version
    return preset.approved_version


def versions_readable(*, preset: Preset, access: Access) -> QuerySet[PresetVersion]:
    """Editors see every version of the preset, newest first; other readers only the approved ones."""
    versions = PresetVersion.objects.filter(preset=preset).select_related("author", "reviewer").order_by("-number")
    return versions if access >= Access.EDIT else versions.filter(status=Status.APPROVED)


def level_for_grant(access: Access) -> Level | None:
    return {Access.USE: Level.USE, Access.VIEW: Level.VIEW, Access.EDIT: Level.EDIT}.get(access)


_process_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
PROCESS_CACHE_SIZE = 2048


def version_content(*, preset_id: Any, number: int) -> dict[str, Any] | None:
    """The content of version N; immutable, so cached in-process and in Redis under a key with N."""
    key = f"preset-version:{preset_id}:{number}"
    if key in _process_cache:
        _process_cache.move_to_end(key)
        return _process_cache[key]
    content = _shared_cache_get(key)
    if content is None:
        row = Preset.history.filter(id=preset_id, version=number).order_by("history_id").first()
        if row is None:
            return None
        content = {field: getattr(row, field) for field in CONTENT_FIELDS}
        _shared_cache_set(key, content)
    _process_cache[key] = content
    if len(_process_cache) > PROCESS_CACHE_SIZE:
        _process_cache.popitem(last=False)
    return content


def _shared_cache_get(key: str) -> dict[str, Any] | None:
    """The shared copy, or None when it is missing or the cache is down (the database has it)."""
    if not BREAKER.available():
        return None
    try:
        return cache.get(key)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what="preset content")
        return None


def _shared_cache_set(key: str, content: dict[str, Any]) -> None:
    if BREAKER.available():
        try:
            cache.set(key, content, timeout=settings.PRESET_CONTENT_CACHE_SECONDS)
        except CACHE_ERRORS as error:
            BREAKER.failed(error, what="preset content")


def version_diff(*, older: dict[str, Any], newer: dict[str, Any], older_label: str, newer_label: str) -> dict[str, Any]:
    prompt_diff = unified_diff(
        older["system_prompt"], newer["system_prompt"], older_label=older_label, newer_label=newer_label
    )
    changed = {
        field: {"before": older[field], "after": newer[field]}
        for field in CONTENT_FIELDS
        if field != "system_prompt" and older[field] != newer[field]
    }
    return {"prompt_diff": prompt_diff, "changed": changed}


def preset_ids_shared_with(*, membership: Membership, among: list[Any]) -> set[Any]:
    """Which of `among` reach the caller through a grant (to them or to one of their teams)."""
    granted = Preset.objects.filter(pk__in=among).filter(_granted_ids(membership, indexable=False))
    return set(granted.values_list("pk", flat=True))
