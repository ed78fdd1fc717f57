"""Labels: named pointers from a preset to one of its released versions (`production`, `staging`, …).

Rules:
- `production` needs no row: until someone moves it, it means the newest approved version; moving
  it pins it there, and deleting its row returns it to that default.
- A label points at an approved version (a private preset's versions are approved as written).
- Protected labels (`production` always, plus the organisation's `protected_labels` setting) move
  only for whoever may approve the preset's versions (presets.services.review.may_review; the owner
  of a private preset). Other labels move for whoever may edit the preset, or review it.
- Every move and delete is audited in the same transaction, with the version before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from audit import services as audit
from chatpresets.errors import Forbidden, InvalidInput, InvalidState, NotFound
from presets import webhooks
from presets.models import Preset, PresetLabel, PresetVersion, Scope, Status
from presets.selectors import Access, preset_access
from presets.services.review import may_review
from presets.webhooks import events as webhook_events
from tenancy.models import Membership, User
from tenancy.org_settings import LABEL_NAME

PRODUCTION = "production"


class LabelNotFound(NotFound):
    code = "label_not_found"
    message = "This preset has no label of that name."


class LabelProtected(Forbidden):
    code = "label_protected"
    message = "Moving or deleting this label needs the right to approve the preset's versions."


class LabelVersionNotApproved(InvalidState):
    code = "label_version_not_approved"
    message = "A label points only at an approved version of the preset."


@dataclass(frozen=True)
class LabelView:
    """A label as it is shown: `implicit` is the `production` default nobody has moved yet."""

    name: str
    version: int
    protected: bool
    implicit: bool
    moved_by: str
    moved_at: datetime | None


def valid_label_name(name: str) -> str:
    if not isinstance(name, str) or not LABEL_NAME.match(name):
        raise InvalidInput(
            "A label name is 1-40 characters of a-z, 0-9, - and _, starting with a letter or digit.",
            details={"field": "name"},
        )
    return name


def protected_labels(*, preset: Preset) -> set[str]:
    return {PRODUCTION, *preset.org.settings.get("protected_labels", [])}


def label_version(*, preset: Preset, name: str) -> int | None:
    """The version `name` points at now, or None when the preset has no such label."""
    moved = PresetLabel.objects.filter(preset=preset, name=name).values_list("version", flat=True).first()
    if moved is not None:
        return moved
    return preset.approved_version if name == PRODUCTION else None


def labels_of(*, preset: Preset) -> list[LabelView]:
    """Every label of the preset, `production` first (implicit while it follows the newest approval)."""
    protected = protected_labels(preset=preset)
    rows = PresetLabel.objects.filter(preset=preset).select_related("moved_by").order_by("name")
    views = [
        LabelView(row.name, row.version, row.name in protected, False, _username(row.moved_by), row.moved_at)
        for row in rows
    ]
    if PRODUCTION not in {view.name for view in views} and preset.approved_version is not None:
        views.append(LabelView(PRODUCTION, preset.approved_version, True, True, "", None))
    return sorted(views, key=lambda view: (view.name != PRODUCTION, view.name))


def may_move_label(*, preset: Preset, name: str, actor: User) -> bool:
    """Whether `actor` may move or delete `name` on `preset` (the rules at the top of this module)."""
    membership = Membership.objects.for_org(preset.org).filter(user=actor).first()
    if membership is None:
        return False
    access = preset_access(preset=preset, membership=membership)
    if preset.scope == Scope.PRIVATE:
        return access >= Access.MANAGE if name in protected_labels(preset=preset) else access >= Access.EDIT
    if may_review(preset=preset, user=actor):
        return True
    return name not in protected_labels(preset=preset) and access >= Access.EDIT


@transaction.atomic
def label_move(*, preset: Preset, name: str, version: int, actor: User) -> PresetLabel:
    """Point `name` at `version` (created if new); protected labels need review rights; audited."""
    preset = _locked(preset, name, actor)
    if not _released(preset, version):
        raise LabelVersionNotApproved(details={"version": version})
    before = label_version(preset=preset, name=name)
    label, _ = PresetLabel.objects.update_or_create(
        preset=preset, name=name, defaults={"org": preset.org, "version": version, "moved_by": actor}
    )
    _audit(preset, actor, "preset.label_moved", name, before, version)
    webhooks.emit(
        org=preset.org,
        event=webhook_events.LABEL_MOVED,
        data={"preset": str(preset.pk), "label": name, "before": before, "after": version},
    )
    return label


@transaction.atomic
def label_delete(*, preset: Preset, name: str, actor: User) -> None:
    """Remove a moved label; `production` then follows the newest approved version again. Audited."""
    preset = _locked(preset, name, actor)
    label = PresetLabel.objects.filter(preset=preset, name=name).first()
    if label is None:
        raise LabelNotFound(details={"label": name})
    label.delete()
    _audit(preset, actor, "preset.label_deleted", name, label.version, label_version(preset=preset, name=name))


def _audit(preset: Preset, actor: User, action: str, name: str, before: int | None, after: int | None) -> None:
    """`after` of a deleted `production` is the newest approved version it follows again."""
    payload = {"label": name, "before": before, "after": after}
    audit.record(org=preset.org, actor=actor, action=action, target=preset, payload=payload)


def _locked(preset: Preset, name: str, actor: User) -> Preset:
    """The preset row locked for the change, once the name and the actor's rights are checked."""
    valid_label_name(name)
    preset = Preset.objects.select_for_update().get(pk=preset.pk)  # the organisation row stays unlocked
    if preset.deleted_at is not None:
        raise InvalidState("This preset is in the trash; restore it before moving its labels.")
    if not may_move_label(preset=preset, name=name, actor=actor):
        if name in protected_labels(preset=preset):
            raise LabelProtected(details={"label": name})
        raise Forbidden("Moving a label needs edit access to the preset.")
    return preset


def _released(preset: Preset, number: int) -> bool:
    """Approved, and not before a widening of the audience (which clears `approved_version` until the
    wider audience's reviewers approve): private presets' versions are approved as written."""
    if preset.approved_version is None or number > preset.approved_version:
        return False
    return PresetVersion.objects.filter(preset=preset, number=number, status=Status.APPROVED).exists()


def _username(user: User | None) -> str:
    return user.username if user is not None else ""
