"""Replays of user turns through a preset's approved version and a version in review, side by side.

A replay never writes to the conversations it reads: each item keeps a copy of the user's text, a
reference to the source message, and both answers with their tokens, cost, times and error codes.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from tenancy.scoping import TenantOwned

# One replay runs at most this many items (turns or prompts), each through both versions.
MAX_ITEMS = 50
MAX_PROMPT_CHARS = 4000


class ReplayStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


UNFINISHED = (ReplayStatus.QUEUED, ReplayStatus.RUNNING)


class ReplaySource(models.TextChoices):
    RECENT = "recent", "The newest user turns of the preset's conversations"
    CONVERSATIONS = "conversations", "The user turns of chosen conversations"
    PROMPT_SET = "prompt_set", "A saved prompt set"


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


class PromptSet(TenantOwned):
    """A named list of prompts kept with a preset, replayed alone (without a conversation around them)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preset = models.ForeignKey("presets.Preset", on_delete=models.CASCADE, related_name="prompt_sets")
    name = models.CharField(max_length=200)
    prompts = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["preset", "name"], name="prompt_set_unique_name")]

    def __str__(self) -> str:
        return self.name


class Replay(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preset = models.ForeignKey("presets.Preset", on_delete=models.CASCADE, related_name="replays")
    candidate_version = models.PositiveIntegerField(help_text="The version in review")
    baseline_version = models.PositiveIntegerField(help_text="The approved version it is compared with")
    source = models.CharField(max_length=20, choices=ReplaySource.choices)
    prompt_set = models.ForeignKey(PromptSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    token_budget = models.PositiveIntegerField()
    tokens_spent = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=12, choices=ReplayStatus.choices, default=ReplayStatus.QUEUED)
    error_code = models.CharField(max_length=50, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The key a replay was started with: its calls count against the key's limits too, as the key's own.
    api_key = models.ForeignKey("tenancy.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written when a run claims the replay and after each item: a run that stops writing lost its
    # worker, and the sweep (runner.sweep_stalled) queues the replay again, `runs` times at most.
    progressed_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "preset", "-created_at"], name="replay_preset_recent")]

    def __str__(self) -> str:
        return f"{self.preset_id} v{self.baseline_version}→v{self.candidate_version}"

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED


SIDES = ("baseline", "candidate")


class ReplayItem(TenantOwned):
    """One user turn or prompt, answered by the baseline and by the candidate (`<side>_…` fields)."""

    replay = models.ForeignKey(Replay, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    source_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_text = models.TextField()
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    skip_reason = models.CharField(max_length=20, blank=True)  # budget | cancelled

    baseline_model = models.CharField(max_length=100, blank=True)
    baseline_answer = models.TextField(blank=True)
    baseline_prompt_tokens = models.PositiveIntegerField(default=0)
    baseline_completion_tokens = models.PositiveIntegerField(default=0)
    baseline_cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    baseline_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    baseline_total_ms = models.PositiveIntegerField(null=True, blank=True)
    baseline_error = models.CharField(max_length=50, blank=True)

    candidate_model = models.CharField(max_length=100, blank=True)
    candidate_answer = models.TextField(blank=True)
    candidate_prompt_tokens = models.PositiveIntegerField(default=0)
    candidate_completion_tokens = models.PositiveIntegerField(default=0)
    candidate_cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal(0))
    candidate_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    candidate_total_ms = models.PositiveIntegerField(null=True, blank=True)
    candidate_error = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["replay", "position"]
        constraints = [models.UniqueConstraint(fields=["replay", "position"], name="replay_item_position")]

    def __str__(self) -> str:
        return f"{self.replay_id} #{self.position}"

    @property
    def compared(self) -> bool:
        """Both versions answered, so their differences mean something."""
        return self.status == ItemStatus.DONE and not self.baseline_error and not self.candidate_error
