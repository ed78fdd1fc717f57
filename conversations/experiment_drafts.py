"""Drafting an experiment from what a caller sent (the API's body or the experiments page's form):
the experiment's preset needs edit access, each variant's preset must be one the caller may use.
One copy of these rules for both paths; the service checks the rest (versions, weights, audience)."""

from __future__ import annotations

from typing import Any

from chatpresets.errors import NotFound
from presets.api.base import require
from presets.experiments import services
from presets.experiments.models import Experiment
from presets.models import Preset
from presets.selectors import Access, preset_for_caller
from tenancy.models import Membership, User


def editable_preset(*, membership: Membership, preset_id: Any) -> Preset:
    """Drafting an experiment on a preset needs edit access to it (404 when it is not visible)."""
    preset, access = preset_for_caller(membership=membership, preset_id=preset_id)
    require(access, Access.EDIT)
    return preset


def variant_rows(*, membership: Membership, variants: list[dict[str, Any]], preset: Preset) -> list[dict[str, Any]]:
    """Each variant's preset: the experiment's own, or another the caller may use."""
    rows = []
    for index, variant in enumerate(variants):
        other = variant["preset"]
        try:
            chosen = (
                preset if other in (None, preset.pk) else preset_for_caller(membership=membership, preset_id=other)[0]
            )
        except NotFound:
            raise NotFound("No such preset.", details={"field": "variants", "index": index}) from None
        rows.append({**variant, "preset": chosen})
    return rows


def experiment_draft(*, membership: Membership, actor: User, data: dict[str, Any]) -> Experiment:
    """A draft from ExperimentWriteSerializer's validated data."""
    fields = dict(data)
    preset = editable_preset(membership=membership, preset_id=fields.pop("preset"))
    fields["variants"] = variant_rows(membership=membership, variants=fields["variants"], preset=preset)
    return services.experiment_create(org=membership.org, preset=preset, actor=actor, **fields)
