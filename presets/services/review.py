"""Review of preset versions: draft → pending_review → approved / rejected.

Who approves: team presets by a lead of the preset's team or an org owner/admin; org- and
public-scope presets by an org approver, admin or owner; public presets then also by platform
staff (in the admin) before they enter the gallery. Nobody approves a version they wrote.
Private presets need no review.

Moderators (platform staff holding `presets.moderate_preset`; superusers hold every permission)
may decide any organisation's pending version from the admin, which asks for it explicitly
(`moderator_override=True`); the decision's audit event then carries `moderator_override`.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import Forbidden, InvalidState, SelfApproval
from presets.models import Preset, PresetVersion, Scope, Status
from presets.safety import run_checks
from presets.webhooks import emit, events
from tenancy.models import Membership, Role, TeamMembership, User

ORG_REVIEWERS = {Role.OWNER, Role.ADMIN, Role.APPROVER}
MODERATE_PERMISSION = "presets.moderate_preset"


def may_moderate(*, user: User) -> bool:
    """Platform moderation is a staff capability granted explicitly, never implied by a role in an organisation."""
    return user.is_active and user.is_staff and user.has_perm(MODERATE_PERMISSION)


def reviews_somewhere(*, user: User) -> bool:
    """Whether the rules let `user` review some organisation's presets: a reviewer role or a team lead."""
    return (
        Membership.objects.filter(user=user, role__in=ORG_REVIEWERS).exists()
        or TeamMembership.objects.filter(user=user, is_lead=True).exists()
    )


def may_review(*, preset: Preset, user: User) -> bool:
    role = Membership.objects.for_org(preset.org).filter(user=user).values_list("role", flat=True).first()
    if preset.scope == Scope.TEAM:
        if role in (Role.OWNER, Role.ADMIN):
            return True
        return TeamMembership.objects.filter(team_id=preset.team_id, user=user, is_lead=True).exists()
    return preset.scope in (Scope.ORG, Scope.PUBLIC) and role in ORG_REVIEWERS


def _notify(preset: Preset, event: str, *, actor: User, version: int, **data: object) -> None:
    """Tell the organisation's webhooks after commit; the prompt itself never leaves in a webhook."""
    subject = {"id": str(preset.pk), "slug": preset.slug, "name": preset.name, "scope": preset.scope}
    emit(org=preset.org, event=event, data={"preset": subject, "version": version, "actor": actor.username, **data})


def _blocks_on_findings(preset: Preset) -> bool:
    return bool(preset.org.settings.get("block_on_findings", False))


def _mark_submitted(version: PresetVersion, preset: Preset) -> bool:
    """Run the checks; returns True when the organisation's policy keeps the version in draft."""
    version.findings = run_checks(prompt=preset.system_prompt, org_settings=preset.org.settings)
    blocked = bool(version.findings) and _blocks_on_findings(preset)
    version.status = Status.DRAFT if blocked else Status.PENDING_REVIEW
    version.submitted_at = None if blocked else timezone.now()
    version.save(update_fields=["findings", "status", "submitted_at"])
    return blocked


def auto_submit(*, preset: Preset, version: PresetVersion, actor: User) -> None:
    """An edit of an approved shared preset goes straight to review (the old version stays in use)."""
    blocked = _mark_submitted(version, preset)
    _set_current_status(preset, version)
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset.submitted",
        target=preset,
        payload={"version": version.number, "automatic": True, "findings": version.findings, "blocked": blocked},
    )
    if not blocked:
        _notify(preset, events.VERSION_SUBMITTED, actor=actor, version=version.number, automatic=True)


def _set_current_status(preset: Preset, version: PresetVersion) -> None:
    if version.number == preset.version and preset.status != version.status:
        preset.status = version.status
        preset.save(update_fields=["status", "updated_at"])


def _current_version(preset: Preset) -> PresetVersion:
    return PresetVersion.objects.select_for_update().get(preset=preset, number=preset.version)


@transaction.atomic
def preset_submit(*, preset: Preset, actor: User) -> tuple[PresetVersion, bool]:
    """Returns the version and whether the organisation's block-on-findings policy stopped it."""
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    if preset.scope == Scope.PRIVATE:
        raise InvalidState("Private presets need no review.")
    version = _current_version(preset)
    if version.status not in (Status.DRAFT, Status.REJECTED):
        raise InvalidState(f"Version {version.number} is {version.status}; only drafts and rejections are submitted.")
    blocked = _mark_submitted(version, preset)
    _set_current_status(preset, version)
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset.submitted",
        target=preset,
        payload={"version": version.number, "findings": version.findings, "blocked": blocked},
    )
    if not blocked:
        _notify(preset, events.VERSION_SUBMITTED, actor=actor, version=version.number, automatic=False)
    return version, blocked


def _pending(preset: Preset, number: int, actor: User, *, moderator_override: bool) -> tuple[PresetVersion, bool]:
    """The pending version and whether deciding it takes a moderator's override (the rules alone refuse)."""
    if preset.deleted_at is not None:
        raise InvalidState("This preset is in the trash; restore it before reviewing.")
    version = PresetVersion.objects.select_for_update().filter(preset=preset, number=number).first()
    if version is None or version.status != Status.PENDING_REVIEW:
        raise InvalidState(f"Version {number} is not pending review.")
    overridden = not may_review(preset=preset, user=actor)
    if overridden and not (moderator_override and may_moderate(user=actor)):
        raise Forbidden("You may not review this preset.")
    if version.author_id == actor.pk:  # moderators included: an override is about roles, not one's own work
        raise SelfApproval()
    return version, overridden


def _decide(
    preset: Preset, *, actor: User, number: int, status: str, comment: str, moderator_override: bool
) -> PresetVersion:
    """Record a reviewer's decision on a pending version and audit it; the caller holds the lock."""
    version, overridden = _pending(preset, number, actor, moderator_override=moderator_override)
    version.status, version.reviewer, version.reviewed_at = status, actor, timezone.now()
    version.review_comment = comment
    version.save(update_fields=["status", "reviewer", "reviewed_at", "review_comment"])
    payload = {"version": number, "comment": comment}
    if overridden:
        payload["moderator_override"] = True  # the comment is the moderator's reason, if they gave one
    audit.record(
        org=preset.org,
        actor=actor,
        action="preset.approved" if status == Status.APPROVED else "preset.rejected",
        target=preset,
        payload=payload,
    )
    approved = status == Status.APPROVED
    event = events.VERSION_APPROVED if approved else events.VERSION_REJECTED
    _notify(preset, event, actor=actor, version=number, comment=comment)
    return version


@transaction.atomic
def preset_approve(
    *, preset: Preset, actor: User, number: int, comment: str = "", moderator_override: bool = False
) -> PresetVersion:
    """`moderator_override` lets a moderator decide where the review rules would refuse them."""
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    version = _decide(
        preset,
        actor=actor,
        number=number,
        status=Status.APPROVED,
        comment=comment,
        moderator_override=moderator_override,
    )
    preset.approved_version = max(preset.approved_version or 0, number)
    if number == preset.version:
        preset.status = Status.APPROVED
    preset._history_user, preset._change_reason = actor, f"version {number} approved"
    preset.save()
    return version


@transaction.atomic
def preset_reject(
    *, preset: Preset, actor: User, number: int, comment: str, moderator_override: bool = False
) -> PresetVersion:
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    version = _decide(
        preset,
        actor=actor,
        number=number,
        status=Status.REJECTED,
        comment=comment,
        moderator_override=moderator_override,
    )
    _set_current_status(preset, version)
    return version


@transaction.atomic
def preset_staff_approve_public(*, preset: Preset, staff: User, number: int, comment: str = "") -> PresetVersion:
    """Platform staff let an org-approved public preset into the gallery."""
    if not staff.is_staff:
        raise Forbidden("Only platform staff approve public presets.")
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    version = PresetVersion.objects.select_for_update().filter(preset=preset, number=number).first()
    if (
        preset.deleted_at is not None
        or preset.scope != Scope.PUBLIC
        or version is None
        or version.status != Status.APPROVED
    ):
        raise InvalidState("Only an org-approved version of a public preset can be approved for the gallery.")
    if version.author_id == staff.pk:
        raise SelfApproval()
    version.staff_reviewer, version.staff_approved_at = staff, timezone.now()
    version.save(update_fields=["staff_reviewer", "staff_approved_at"])
    preset.public_approved_version = max(preset.public_approved_version or 0, number)
    preset._history_user, preset._change_reason = staff, f"version {number} approved for the gallery"
    preset.save()
    audit.record(
        org=preset.org,
        actor=staff,
        action="preset.public_approved",
        target=preset,
        payload={"version": number, "comment": comment},
    )
    return version


def review_queue(*, membership: Membership) -> QuerySet[PresetVersion]:
    """Pending versions the caller may review (never their own), oldest submission first."""
    lead_of = TeamMembership.objects.filter(user_id=membership.user_id, is_lead=True).values("team_id")
    reviewable = Q(preset__scope=Scope.TEAM, preset__team_id__in=lead_of)
    if membership.role in ORG_REVIEWERS:
        reviewable |= Q(preset__scope__in=[Scope.ORG, Scope.PUBLIC])
    if membership.role in (Role.OWNER, Role.ADMIN):
        reviewable |= Q(preset__scope=Scope.TEAM)
    return (
        PresetVersion.objects.for_org(membership.org)
        .filter(reviewable, status=Status.PENDING_REVIEW, preset__deleted_at__isnull=True)
        .exclude(author_id=membership.user_id)
        .select_related("preset", "author")
        .order_by("submitted_at")
    )
