"""Creating, editing, deleting, restoring, purging, reverting and cloning presets.

Every write saves through the model (history needs post_save), runs in one transaction with
its audit event, and takes the preset's row lock so concurrent edits get consecutive versions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import AlreadyExists, InvalidInput, NotFound, RetentionExpired
from chatpresets.llm.cost_controls import controls_for
from presets.content import validate_content
from presets.models import CONTENT_FIELDS, Preset, PresetVersion, Scope, Status
from presets.runnable import check_context_budget, check_fallbacks, check_model
from presets.services.review import auto_submit
from tenancy.models import Membership, Organization, Role, Team, TeamMembership, User

METADATA_FIELDS = ("name", "slug", "description", "tags", "scope", "team")
# Whose approval a scope needs: org and public share org reviewers (the gallery adds staff separately).
SCOPE_REACH = {Scope.PRIVATE: 0, Scope.TEAM: 1, Scope.ORG: 2, Scope.PUBLIC: 2}


def _check_scope(*, org: Organization, actor: User, scope: str, team: Team | None) -> None:
    if scope == Scope.TEAM:
        if team is None or team.org_id != org.pk:
            raise InvalidInput("A team preset needs a team of this organisation.", details={"field": "team"})
        role = Membership.objects.for_org(org).get(user=actor).role
        if role not in (Role.OWNER, Role.ADMIN) and not TeamMembership.objects.filter(team=team, user=actor).exists():
            raise InvalidInput("You can only make team presets for teams you belong to.", details={"field": "team"})
    elif team is not None:
        raise InvalidInput("Only team presets have a team.", details={"field": "team"})


def _save(preset: Preset, *, actor: User, reason: str) -> None:
    preset._history_user = actor
    preset._change_reason = reason[:100]
    preset.save()


def _check_runnable(*, org: Organization, content: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    """A new or changed model and fallbacks must exist and be allowed, and the context budget must hold.

    Presets written before a restriction keep an unchanged model; they are refused when used.
    """
    controls = controls_for(org.settings)
    if before is None or content["model"] != before["model"]:
        check_model(controls, content["model"])
    fallbacks = content["policy"].get("allowed_fallback_models")
    if before is None or fallbacks != before["policy"].get("allowed_fallback_models"):
        check_fallbacks(controls, content["policy"])
    check_context_budget(controls, content)


def preset_create(
    *,
    org: Organization,
    actor: User,
    name: str,
    slug: str,
    system_prompt: str,
    model: str,
    description: str = "",
    tags: list[str] | None = None,
    scope: str = Scope.PRIVATE,
    team: Team | None = None,
    params: dict[str, Any] | None = None,
    variables: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    forked_from: Preset | None = None,
    forked_from_version: int | None = None,
    change_reason: str = "created",
) -> Preset:
    """Private presets are approved as written; other scopes start as drafts awaiting review."""
    _check_scope(org=org, actor=actor, scope=scope, team=team)
    content = validate_content(
        {
            "system_prompt": system_prompt,
            "model": model,
            "params": params or {},
            "variables": variables or [],
            "policy": policy or {},
        }
    )
    _check_runnable(org=org, content=content)
    if Preset.objects.for_org(org).filter(slug=slug).exists():
        raise AlreadyExists("A preset with this slug exists (or is in the trash).", details={"field": "slug"})
    private = scope == Scope.PRIVATE
    preset = Preset(
        org=org,
        owner=actor,
        team=team,
        scope=scope,
        name=name,
        slug=slug,
        description=description,
        tags=tags or [],
        **content,
        version=1,
        status=Status.APPROVED if private else Status.DRAFT,
        approved_version=1 if private else None,
        forked_from=forked_from,
        forked_from_version=forked_from_version,
    )
    _save(preset, actor=actor, reason=change_reason)
    PresetVersion.objects.create(
        org=org, preset=preset, number=1, author=actor, change_reason=change_reason, status=preset.status
    )
    if forked_from is None:  # a copy is recorded once, as `preset.cloned`, by preset_clone
        audit.record(
            org=org,
            actor=actor,
            action="preset.created",
            target=preset,
            payload={"slug": slug, "scope": scope, "version": 1, "forked_from": None},
        )
    return preset


@transaction.atomic
def preset_update(*, preset: Preset, actor: User, change_reason: str = "", **changes: Any) -> Preset:
    """A content change makes a new version; an approved shared preset's new version goes to review."""
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    before = {field: _plain(getattr(preset, field)) for field in changes}
    scope, team = changes.get("scope", preset.scope), changes.get("team", preset.team)
    if "scope" in changes or "team" in changes:
        _check_scope(org=preset.org, actor=actor, scope=scope, team=team)
    if (
        "slug" in changes
        and Preset.objects.for_org(preset.org).filter(slug=changes["slug"]).exclude(pk=preset.pk).exists()
    ):
        raise AlreadyExists("A preset with this slug exists (or is in the trash).", details={"field": "slug"})
    content = {field: changes.get(field, getattr(preset, field)) for field in CONTENT_FIELDS}
    content_changed = any(content[field] != getattr(preset, field) for field in CONTENT_FIELDS)
    # A wider audience needs the approval of that audience's reviewers: a team lead's approval
    # does not carry over to the whole organisation, nor to another team.
    moved_team = preset.scope == scope == Scope.TEAM and team is not None and team.pk != preset.team_id
    widened = SCOPE_REACH[scope] > SCOPE_REACH[preset.scope] or moved_team
    validated = validate_content(content)
    if content_changed:
        _check_runnable(
            org=preset.org, content=validated, before={field: getattr(preset, field) for field in CONTENT_FIELDS}
        )
    for field, value in {**changes, **validated}.items():
        setattr(preset, field, value)
    if content_changed:
        preset.version += 1
    if scope == Scope.PRIVATE:
        preset.status, preset.approved_version = Status.APPROVED, preset.version
    elif widened:
        # Earlier approvals were for a narrower audience; a version already waiting stays in review.
        preset.approved_version = None
        if preset.status == Status.APPROVED:
            preset.status = Status.DRAFT
    elif content_changed:
        preset.status = Status.DRAFT
    _save(preset, actor=actor, reason=change_reason or ("edited" if content_changed else "details changed"))
    _record_version(preset, actor=actor, new=content_changed, reason=change_reason)
    diff = audit.changes(before, {field: _plain(getattr(preset, field)) for field in changes})
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset.updated",
        target=preset,
        payload={"version": preset.version, "changes": diff},
    )
    return preset


def _record_version(preset: Preset, *, actor: User, new: bool, reason: str) -> None:
    if new:
        version = PresetVersion.objects.create(
            org=preset.org,
            preset=preset,
            number=preset.version,
            author=actor,
            change_reason=reason[:200],
            status=preset.status,
        )
        if preset.scope != Scope.PRIVATE and preset.approved_version is not None:
            auto_submit(preset=preset, version=version, actor=actor)
    else:
        PresetVersion.objects.filter(preset=preset, number=preset.version).update(status=preset.status)


def _plain(value: Any) -> Any:
    return str(value.pk) if hasattr(value, "pk") else value


@transaction.atomic
def preset_delete(*, preset: Preset, actor: User) -> Preset:
    """Soft delete: gone from lists and new sessions; the slug stays reserved until purge."""
    preset.deleted_at = timezone.now()
    preset.deleted_by = actor
    _save(preset, actor=actor, reason="deleted")
    audit.record(org=preset.org, actor=actor, action="preset.deleted", target=preset, payload={"slug": preset.slug})
    return preset


def retention() -> timedelta:
    return timedelta(days=settings.PRESET_TRASH_RETENTION_DAYS)


@transaction.atomic
def preset_restore(*, preset: Preset, actor: User) -> Preset:
    if preset.deleted_at is None:
        raise NotFound()
    if preset.deleted_at < timezone.now() - retention():
        raise RetentionExpired()
    preset.deleted_at = None
    preset.deleted_by = None
    _save(preset, actor=actor, reason="restored")
    audit.record(org=preset.org, actor=actor, action="preset.restored", target=preset, payload={"slug": preset.slug})
    return preset


def preset_purge_expired(*, now: Any = None) -> int:
    """Hard-delete presets trashed longer than the retention period; returns how many."""
    cutoff = (now or timezone.now()) - retention()
    purged = 0
    for preset in Preset.objects.filter(deleted_at__lt=cutoff).select_related("org"):
        with transaction.atomic():
            audit.record(
                org=preset.org,
                actor=None,
                action="preset.purged",
                target=preset,
                payload={"slug": preset.slug, "deleted_at": preset.deleted_at},
            )
            preset.delete()
            purged += 1
    return purged


@transaction.atomic
def preset_revert(*, preset: Preset, actor: User, content: dict[str, Any], number: int) -> Preset:
    return preset_update(preset=preset, actor=actor, change_reason=f"reverted to version {number}", **content)


@transaction.atomic
def preset_clone(
    *,
    source: Preset,
    content: dict[str, Any],
    version: int,
    org: Organization,
    actor: User,
    name: str | None = None,
    via: str = "org",
) -> Preset:
    """A private copy owned by the caller, remembering where (and from which version) it came from;
    audited once, as `preset.cloned` (preset_create records no `preset.created` for a copy).

    `via` is how the source was reached (its own organisation, the gallery or a link). Lineage is
    kept across organisations too: the source's id is no secret to whoever could read it, and no
    route lists a preset's forks, so its owner learns nothing of the copies made elsewhere.
    """
    slug = _free_slug(org, f"{source.slug}-copy")
    clone = preset_create(
        org=org,
        actor=actor,
        name=name or f"{source.name} (copy)",
        slug=slug,
        description=source.description,
        tags=list(source.tags),
        scope=Scope.PRIVATE,
        forked_from=source,
        forked_from_version=version,
        change_reason=f"cloned from {source.slug} v{version}",
        **content,
    )
    audit.record(
        org=org,
        actor=actor,
        action="preset.cloned",
        target=clone,
        payload={"source": str(source.pk), "source_version": version, "via": via},
    )
    return clone


def _free_slug(org: Organization, base: str) -> str:
    base = base[:90]
    taken = set(Preset.objects.for_org(org).filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)
