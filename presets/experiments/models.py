"""Experiments on a preset's traffic and their variants.

An experiment's `id` is the seed of its assignment (assignment.py), so a unit's bucket never
changes while it runs; its variants and weights are frozen once it has started, so every unit was
assigned under the same split and the results stay comparable (services.py refuses the change).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenancy.scoping import TenantOwned


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


ACTIVE = (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED)


class Unit(models.TextChoices):
    USER = "user", "User: a person sees one variant in every conversation"
    CONVERSATION = "conversation", "Conversation: each new conversation is assigned on its own"


class Metric(models.TextChoices):
    """Rates are shares of answers (or of votes, for thumbs up); the rest are means per answer."""

    THUMBS_UP_RATE = "thumbs_up_rate", "Thumbs-up rate (of votes)"
    REGENERATE_RATE = "regenerate_rate", "Regenerate rate"
    ERROR_RATE = "error_rate", "Error rate"
    TOKENS_PER_TURN = "tokens_per_turn", "Tokens per turn"
    COST_PER_TURN = "cost_per_turn", "Cost per turn"
    TTFT_MS = "ttft_ms", "Time to first token (ms)"


RATE_METRICS = frozenset({Metric.THUMBS_UP_RATE, Metric.REGENERATE_RATE, Metric.ERROR_RATE})
HIGHER_IS_BETTER = frozenset({Metric.THUMBS_UP_RATE})


class Experiment(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preset = models.ForeignKey("presets.Preset", on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    # The label whose traffic is split and which "promote" moves; empty: the preset's default
    # (its newest approved version, which is what `production` points at unless moved).
    label = models.SlugField(max_length=50, blank=True)
    traffic_share = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)], help_text="0..1 of units enrolled"
    )
    unit = models.CharField(max_length=12, choices=Unit.choices, default=Unit.USER)
    primary_metric = models.CharField(max_length=20, choices=Metric.choices, default=Metric.THUMBS_UP_RATE)
    guardrail_metrics = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    promoted_variant = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two live experiments on one preset would each claim its new conversations.
            models.UniqueConstraint(
                fields=["preset"],
                condition=models.Q(status__in=["running", "paused"]),
                name="experiment_one_active_per_preset",
            ),
            models.CheckConstraint(
                condition=models.Q(traffic_share__gte=0) & models.Q(traffic_share__lte=1),
                name="experiment_traffic_share_0_1",
            ),
        ]
        indexes = [models.Index(fields=["org", "preset", "status"], name="experiment_org_preset_status")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class ExperimentVariant(TenantOwned):
    """One arm: an approved version of the experiment's preset (or of another preset) and its weight."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    name = models.SlugField(max_length=50)
    # Purging a preset from the trash takes its variants with it, rather than failing the purge.
    preset = models.ForeignKey("presets.Preset", on_delete=models.CASCADE, related_name="+")
    version = models.PositiveIntegerField()
    weight = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    position = models.PositiveSmallIntegerField(default=0)  # the first variant is the control

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="experiment_variant_unique_name"),
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="experiment_variant_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.preset_id} v{self.version} x{self.weight}"
