"""Reads: the experiment a new conversation joins, and the experiments the API lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from presets.experiments.assignment import pick
from presets.experiments.models import Experiment, ExperimentStatus, ExperimentVariant, Unit
from presets.models import Preset
from presets.selectors import visibility_q
from tenancy.models import Membership, Organization

DEFAULT_SLOTS = ("", "production")  # a conversation following "the newest approved" is production's traffic


@dataclass(frozen=True)
class Assignment:
    experiment: Experiment
    variant: ExperimentVariant


def experiments_visible(*, membership: Membership) -> QuerySet[Experiment]:
    """The organisation's experiments on presets the caller sees; any other is the same 404."""
    visible = Preset.objects.for_org(membership.org).filter(visibility_q(membership)).values("pk")
    queryset = Experiment.objects.for_org(membership.org).filter(preset__in=visible)
    return queryset.select_related("org", "preset").prefetch_related("variants")


def assignment_for(
    *, org: Organization, preset: Preset, user_id: Any, conversation_id: Any, label: str = ""
) -> Assignment | None:
    """The running experiment on `preset` for the slot `label` and the unit's variant, or None.

    `label` is the label a conversation follows ("" for the newest approved version). Units
    outside the traffic share get None and the preset as they asked for it.
    """
    slots = DEFAULT_SLOTS if label in DEFAULT_SLOTS else (label,)
    experiment = (
        Experiment.objects.for_org(org)
        .filter(preset=preset, status=ExperimentStatus.RUNNING, label__in=slots)
        .select_related("org")
        .first()
    )
    if experiment is None:
        return None
    variants = list(experiment.variants.select_related("preset").order_by("position"))
    unit_id = user_id if experiment.unit == Unit.USER else conversation_id
    index = pick(
        experiment_id=experiment.pk,
        unit_id=unit_id,
        traffic_share=experiment.traffic_share,
        weights=[variant.weight for variant in variants],
    )
    return None if index is None else Assignment(experiment=experiment, variant=variants[index])
