"""Writes for experiments: create and edit drafts, start (or resume), pause, stop, promote, delete.

Every change is audited (`experiment.*`) in its own transaction. Variants, weights, traffic share
and unit are frozen once an experiment has started: units were assigned under that split, and a
different split would mix two experiments in one result (start a new experiment instead).
Starting, pausing, stopping and promoting need review rights on the preset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidState,
    NotFound,
    PresetNotApproved,
)
from presets import webhooks
from presets.experiments.models import ACTIVE, Experiment, ExperimentStatus, ExperimentVariant, Metric
from presets.models import Preset, PresetVersion, Scope, Status
from presets.services.review import may_review
from presets.webhooks import events as webhook_events
from tenancy.models import Organization, User

MAX_VARIANTS = 10
LIVE_EDITABLE = ("name", "guardrail_metrics")  # what may change once started: neither moves a unit
EDITABLE_FIELDS = ("name", "label", "traffic_share", "unit", "primary_metric", "guardrail_metrics")


class ExperimentFrozen(Conflict):
    code = "experiment_frozen"
    message = "A started experiment's variants, weights, traffic share and unit cannot change; start a new one."


class ExperimentAlreadyActive(Conflict):
    code = "experiment_already_active"
    message = "Another experiment on this preset is running or paused; stop it first."


@transaction.atomic
def experiment_create(
    *, org: Organization, preset: Preset, actor: User, variants: Sequence[dict[str, Any]], **fields: Any
) -> Experiment:
    """A draft experiment; each variant is {name, preset, version, weight} with an approved version."""
    experiment = Experiment(org=org, preset=preset, created_by=actor, **_checked_fields(fields))
    _clean(experiment)
    experiment.save()
    _replace_variants(experiment, variants)
    audit.record(org=org, actor=actor, action="experiment.created", target=experiment, payload=_summary(experiment))
    return experiment


@transaction.atomic
def experiment_update(
    *, experiment: Experiment, actor: User, variants: Sequence[dict[str, Any]] | None = None, **changes: Any
) -> Experiment:
    """Edit a draft; once started only the name and guardrails change (else 409 `experiment_frozen`)."""
    experiment = _locked(experiment)
    frozen = sorted(set(changes) - set(LIVE_EDITABLE) | ({"variants"} if variants is not None else set()))
    if experiment.status != ExperimentStatus.DRAFT and frozen:
        raise ExperimentFrozen(details={"fields": frozen})
    changed = {name: value for name, value in _checked_fields(changes).items() if getattr(experiment, name) != value}
    if variants is None and not changed:
        return experiment  # an empty or same-valued edit changes nothing and records nothing
    for name, value in changed.items():
        setattr(experiment, name, value)
    _clean(experiment)
    experiment.save()
    if variants is not None:
        _replace_variants(experiment, variants)
    audit.record(
        org=experiment.org, actor=actor, action="experiment.updated", target=experiment, payload=_summary(experiment)
    )
    return experiment


def experiment_start(*, experiment: Experiment, actor: User) -> Experiment:
    """draft or paused → running; the variants are checked again (a version may have been
    superseded meanwhile). Resuming keeps the split, so units keep their variants."""
    try:
        with transaction.atomic():
            sources = {ExperimentStatus.DRAFT, ExperimentStatus.PAUSED}
            experiment = _transition(experiment, actor, sources, ExperimentStatus.RUNNING)
            _check_variants(experiment, list(experiment.variants.select_related("preset")))
            return experiment
    except IntegrityError as clash:  # experiment_one_active_per_preset
        raise ExperimentAlreadyActive() from clash


def experiment_pause(*, experiment: Experiment, actor: User) -> Experiment:
    """running → paused: new conversations stop joining; assigned ones keep their variant."""
    with transaction.atomic():
        return _transition(experiment, actor, {ExperimentStatus.RUNNING}, ExperimentStatus.PAUSED)


def experiment_stop(*, experiment: Experiment, actor: User) -> Experiment:
    """running or paused → stopped, for good: results stay readable."""
    with transaction.atomic():
        return _transition(experiment, actor, set(ACTIVE), ExperimentStatus.STOPPED)


@transaction.atomic
def experiment_promote(*, experiment: Experiment, actor: User, variant_name: str) -> Experiment:
    """Move the slot's label (`production` when none) to the variant's version and stop the experiment.

    The label's own rules apply (presets.labels: review rights for `production` and protected
    labels); the variant must be a version of the experiment's own preset.
    """
    experiment = _locked(experiment)
    _require_reviewer(experiment, actor)
    if experiment.status == ExperimentStatus.DRAFT:
        raise InvalidState("A draft experiment has no results to promote.")
    variant = experiment.variants.filter(name=variant_name).first()
    if variant is None:
        raise NotFound("No such variant in this experiment.", details={"field": "variant"})
    if variant.preset_id != experiment.preset_id:
        raise InvalidState("Only a version of the experiment's own preset can take its label.")
    from presets.labels import label_move  # labels sit beside experiments; imported when used

    label = experiment.label or "production"
    label_move(preset=experiment.preset, name=label, version=variant.version, actor=actor)
    if experiment.status in ACTIVE:
        experiment.status, experiment.stopped_at = ExperimentStatus.STOPPED, timezone.now()
    experiment.promoted_variant = variant.name
    experiment.save(update_fields=["status", "stopped_at", "promoted_variant"])
    payload = {"variant": variant.name, "label": label, "version": variant.version}
    audit.record(org=experiment.org, actor=actor, action="experiment.promoted", target=experiment, payload=payload)
    data = _webhook_data(experiment, **payload)
    webhooks.emit(org=experiment.org, event=webhook_events.EXPERIMENT_PROMOTED, data=data)
    return experiment


@transaction.atomic
def experiment_delete(*, experiment: Experiment, actor: User) -> None:
    """Only drafts are deleted: a started experiment's results stay (stop it instead)."""
    experiment = _locked(experiment)
    if experiment.status != ExperimentStatus.DRAFT:
        raise InvalidState("Only a draft experiment can be deleted; stop a started one.")
    audit.record(
        org=experiment.org, actor=actor, action="experiment.deleted", target=experiment, payload=_summary(experiment)
    )
    experiment.delete()


def _transition(experiment: Experiment, actor: User, sources: set[str], target: str) -> Experiment:
    experiment = _locked(experiment)
    _require_reviewer(experiment, actor)
    if experiment.status not in sources:
        raise InvalidState(f"The experiment is {experiment.status}.", details={"status": experiment.status})
    before = experiment.status
    experiment.status = target
    now = timezone.now()
    if target == ExperimentStatus.RUNNING and experiment.started_at is None:
        experiment.started_at = now
    if target == ExperimentStatus.STOPPED:
        experiment.stopped_at = now
    experiment.save(update_fields=["status", "started_at", "stopped_at"])
    action = {"running": "experiment.started", "paused": "experiment.paused", "stopped": "experiment.stopped"}[target]
    if before == ExperimentStatus.PAUSED and target == ExperimentStatus.RUNNING:
        action = "experiment.resumed"
    audit.record(org=experiment.org, actor=actor, action=action, target=experiment, payload=_summary(experiment))
    if action in (webhook_events.EXPERIMENT_STARTED, webhook_events.EXPERIMENT_STOPPED):
        webhooks.emit(org=experiment.org, event=action, data=_webhook_data(experiment))
    return experiment


def _webhook_data(experiment: Experiment, **extra: Any) -> dict[str, Any]:
    return {"experiment": str(experiment.pk), "preset": str(experiment.preset_id), "name": experiment.name, **extra}


def _require_reviewer(experiment: Experiment, actor: User) -> None:
    if not may_review(preset=experiment.preset, user=actor):
        raise Forbidden("Starting, stopping and promoting an experiment needs review rights on its preset.")


def _locked(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().select_related("org", "preset").get(pk=experiment.pk)


def _clean(experiment: Experiment) -> None:
    """The model's own checks (ranges, choices, slugs) as the API's `invalid`, never a 500."""
    try:
        experiment.full_clean(exclude=["org", "preset", "created_by"])
    except ValidationError as error:
        raise InvalidInput("The experiment is not valid.", details={"fields": error.message_dict}) from error


def _checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput("These fields cannot be set.", details={"fields": sorted(unknown)})
    metrics = fields.get("guardrail_metrics")
    if metrics is not None and (not isinstance(metrics, list) or set(metrics) - set(Metric.values)):
        raise InvalidInput("Unknown guardrail metric.", details={"field": "guardrail_metrics"})
    return fields


def _replace_variants(experiment: Experiment, variants: Sequence[dict[str, Any]]) -> None:
    rows = [
        ExperimentVariant(
            org=experiment.org,
            experiment=experiment,
            name=spec["name"],
            preset=spec["preset"],
            version=spec["version"],
            weight=spec["weight"],
            position=position,
        )
        for position, spec in enumerate(variants)
    ]
    _check_variants(experiment, rows)
    experiment.variants.all().delete()
    ExperimentVariant.objects.bulk_create(rows)


def _check_variants(experiment: Experiment, rows: Sequence[ExperimentVariant]) -> None:
    """2..10 uniquely named variants with positive weights, each an approved version of a live
    preset of the experiment's organisation that its preset's users can also run."""
    if not 2 <= len(rows) <= MAX_VARIANTS:
        raise InvalidInput(f"An experiment has 2 to {MAX_VARIANTS} variants.", details={"field": "variants"})
    if len({row.name for row in rows}) != len(rows):
        raise AlreadyExists("Variant names must be unique.", details={"field": "variants"})
    for index, row in enumerate(rows):
        where = {"field": "variants", "index": index}
        if row.weight is None or row.weight < 1:
            raise InvalidInput("A variant's weight must be a positive integer.", details=where)
        if row.preset.org_id != experiment.org_id or row.preset.deleted_at is not None:
            raise InvalidInput("A variant's preset must be a live preset of this organisation.", details=where)
        if not _shares_audience(experiment.preset, row.preset):
            raise InvalidState(
                "Another preset in a variant must be organisation-wide or of the same team.", details=where
            )
        approved = PresetVersion.objects.filter(preset=row.preset, number=row.version, status=Status.APPROVED)
        if not approved.exists():
            raise PresetNotApproved(f"Version {row.version} of a variant's preset is not approved.", details=where)


def _shares_audience(preset: Preset, other: Preset) -> bool:
    """Whoever is assigned the variant must be able to run it: the same preset, an org-wide one,
    or one of the same team."""
    if other.pk == preset.pk or other.scope in (Scope.ORG, Scope.PUBLIC):
        return True
    return other.scope == Scope.TEAM and other.team_id is not None and other.team_id == preset.team_id


def _summary(experiment: Experiment) -> dict[str, Any]:
    return {
        "name": experiment.name,
        "preset": str(experiment.preset_id),
        "label": experiment.label,
        "status": experiment.status,
        "traffic_share": experiment.traffic_share,
        "unit": experiment.unit,
        "variants": [
            {"name": v.name, "preset": str(v.preset_id), "version": v.version, "weight": v.weight}
            for v in experiment.variants.all()
        ],
    }


def min_sample() -> int:
    """Observations each side of a comparison needs before any verdict (EXPERIMENT_MIN_SAMPLE)."""
    return settings.EXPERIMENT_MIN_SAMPLE
